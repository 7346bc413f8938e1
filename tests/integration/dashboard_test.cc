// The built-in dashboard end to end: a real `pulse serve` on a trained data dir, some recommend
// and event traffic, then headless Chromium (Debian `chromium`, no driver) loads the page once
// with --dump-dom and --screenshot. The DOM must show the model version, plots with data
// points (the page's JS writes data-state/data-points/data-max), and the try-it box run for
// ?user=u1 with its items, explanation ids and debug stages; the PNG must hold the plotted line's
// pixels inside the RPS canvas (decoded here with zlib).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

constexpr int kWidth = 1280;
constexpr int kHeight = 900;

std::string ChromiumBinary() {
  const char* path = std::getenv("PULSE_CHROMIUM");
  return path != nullptr ? path : "/usr/bin/chromium";
}

// Runs `timeout 60 <argv...>` with stdout to `out_path`, stderr to `err_path`; returns the exit
// code. Chromium's home is the temp dir, so nothing outside it is touched.
int RunProgram(const std::vector<std::string>& argv, const std::string& home,
               const std::string& out_path, const std::string& err_path) {
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    dup2(in, STDIN_FILENO);
    setenv("HOME", home.c_str(), 1);
    setenv("XDG_CONFIG_HOME", home.c_str(), 1);
    setenv("XDG_CACHE_HOME", home.c_str(), 1);
    std::vector<std::string> full = {"/usr/bin/timeout", "-k", "5", "60"};
    full.insert(full.end(), argv.begin(), argv.end());
    std::vector<char*> args;
    for (auto& a : full) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// ---- a small PNG decoder: 8-bit RGB/RGBA, not interlaced (what Chromium writes) ----

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // 3 bytes per pixel, row-major
  const uint8_t* At(int x, int y) const { return &rgb[(static_cast<size_t>(y) * width + x) * 3]; }
};

uint32_t BigEndian32(const std::string& bytes, size_t at) {
  return (uint32_t{static_cast<uint8_t>(bytes[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(bytes[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(bytes[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(bytes[at + 3])};
}

std::optional<Image> DecodePng(const std::string& bytes, std::string* error) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() < 8 || bytes.compare(0, 8, kSignature, 8) != 0) {
    *error = "not a PNG";
    return std::nullopt;
  }
  Image image;
  int channels = 0;
  std::string idat;
  for (size_t at = 8; at + 12 <= bytes.size();) {
    const uint32_t length = BigEndian32(bytes, at);
    const std::string type = bytes.substr(at + 4, 4);
    if (at + 12 + length > bytes.size()) break;
    const size_t data = at + 8;
    if (type == "IHDR") {
      image.width = static_cast<int>(BigEndian32(bytes, data));
      image.height = static_cast<int>(BigEndian32(bytes, data + 4));
      const int depth = static_cast<uint8_t>(bytes[data + 8]);
      const int color = static_cast<uint8_t>(bytes[data + 9]);
      const int interlace = static_cast<uint8_t>(bytes[data + 12]);
      channels = color == 2 ? 3 : color == 6 ? 4 : 0;
      if (depth != 8 || channels == 0 || interlace != 0 || image.width <= 0 || image.height <= 0 ||
          image.width > 8192 || image.height > 8192) {
        *error =
            StrCat("unsupported PNG: depth ", depth, " color ", color, " interlace ", interlace);
        return std::nullopt;
      }
    } else if (type == "IDAT") {
      idat.append(bytes, data, length);
    } else if (type == "IEND") {
      break;
    }
    at += 12 + length;
  }
  if (channels == 0 || idat.empty()) {
    *error = "PNG without IHDR or IDAT";
    return std::nullopt;
  }
  const size_t stride = static_cast<size_t>(image.width) * channels;
  std::vector<uint8_t> raw((stride + 1) * image.height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) !=
          Z_OK ||
      raw_size != raw.size()) {
    *error = "PNG image data does not inflate to its size";
    return std::nullopt;
  }
  // Undo the per-row filters (PNG spec section 9).
  std::vector<uint8_t> pixels(stride * image.height);
  for (int y = 0; y < image.height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    uint8_t* row = &pixels[y * stride];
    const uint8_t* up = y > 0 ? &pixels[(y - 1) * stride] : nullptr;
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<size_t>(channels) ? row[i - channels] : 0;
      const int b = up != nullptr ? up[i] : 0;
      const int c = up != nullptr && i >= static_cast<size_t>(channels) ? up[i - channels] : 0;
      int predicted = 0;
      switch (filter) {
        case 0:
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) / 2;
          break;
        case 4: {
          const int p = a + b - c;
          const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          *error = StrCat("bad PNG filter ", filter);
          return std::nullopt;
      }
      row[i] = static_cast<uint8_t>(in[i] + predicted);
    }
  }
  image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
  for (size_t p = 0; p < static_cast<size_t>(image.width) * image.height; ++p) {
    for (int k = 0; k < 3; ++k) image.rgb[p * 3 + k] = pixels[p * channels + k];
  }
  return image;
}

// The plots' primary line colour (#1f6feb in web/app.js), allowing for anti-aliasing.
bool IsLineBlue(const uint8_t* px) {
  return std::abs(px[0] - 31) < 40 && std::abs(px[1] - 111) < 40 && std::abs(px[2] - 235) < 40;
}

// ---- DOM helpers ----

// The start tag of the element with this id ("" when absent).
std::string TagWithId(const std::string& dom, const std::string& id) {
  size_t at = dom.find(StrCat("id=\"", id, "\""));
  if (at == std::string::npos) return "";
  size_t open = dom.rfind('<', at);
  size_t close = dom.find('>', at);
  return open == std::string::npos || close == std::string::npos
             ? ""
             : dom.substr(open, close - open + 1);
}

std::string Attr(const std::string& tag, const std::string& name) {
  std::smatch match;
  std::regex pattern(StrCat("\\s", name, "=\"([^\"]*)\""));
  return std::regex_search(tag, match, pattern) ? match[1].str() : "";
}

// The text after the start tag of element `id` up to the next '<'.
std::string TextOf(const std::string& dom, const std::string& id) {
  size_t at = dom.find(StrCat("id=\"", id, "\""));
  if (at == std::string::npos) return "";
  size_t start = dom.find('>', at);
  size_t end = dom.find('<', start);
  return start == std::string::npos || end == std::string::npos
             ? ""
             : dom.substr(start + 1, end - start - 1);
}

int64_t IntAttr(const std::string& tag, const std::string& name) {
  int64_t value = -1;
  return ParseInt64(Attr(tag, name), &value) ? value : -1;
}

class DashboardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    data_dir_ = dir_->Sub("data");
    ASSERT_EQ(PrepareTrainedDataDir(dir_->path(), data_dir_, 300, 200, 8000, 5), "");
    std::string error;
    server_ = ServerProcess::Start({"serve", "--data-dir", data_dir_}, &error).release();
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_TRUE(WaitReady(server_->http_port())) << server_->Output();
    DriveTraffic();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
  }

  static httplib::Client Http() {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(10);
    return client;
  }

  // Recommendations for known and unknown users, a few bad requests (4xx: not errors), and
  // live events (freshness, trending).
  static void DriveTraffic() {
    auto client = Http();
    for (int i = 0; i < 80; ++i) {
      json body = {{"user_id", StrCat("u", i % 50)}, {"n", 10}};
      if (i % 20 == 0) body["user_id"] = StrCat("new-user-", i);
      auto res = client.Post("/v1/recommend", body.dump(), "application/json");
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
    }
    auto bad = client.Post("/v1/recommend", R"({"user_id":"u1","n":0})", "application/json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    json events = json::array();
    for (int i = 0; i < 60; ++i) {
      events.push_back({{"user_id", StrCat("u", i % 30)},
                        {"item_id", StrCat("i", i % 4)},
                        {"type", i % 3 == 0 ? "click" : "view"},
                        {"ts", now_ms - i}});
    }
    auto res = client.Post("/v1/events", events.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202) << res->body;
  }

  static json Stats() {
    auto res = Http().Get("/v1/admin/stats");
    if (!res || res->status != 200) return json();
    return json::parse(res->body, nullptr, false);
  }

  static int Positive(const json& values) {
    int n = 0;
    for (const auto& v : values) n += v.is_number() && v.get<double>() > 0;
    return n;
  }

  // Waits (bounded) until the server's own sampler has turned the traffic into rates: the
  // page is only worth loading then. Polls a condition; no timing assumption.
  static json WaitForSeries() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    json stats;
    while (std::chrono::steady_clock::now() < deadline) {
      stats = Stats();
      if (stats.is_object() && Positive(stats["series"]["rps"]) >= 3 &&
          Positive(stats["series"]["p99_ms"]) >= 3 &&
          Positive(stats["series"]["freshness_p99_s"]) >= 3 && stats["top_items"].is_array() &&
          !stats["top_items"].empty()) {
        return stats;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the stats never showed the traffic: " << stats.dump();
    return stats;
  }

  static testing::TempDir* dir_;
  static std::string data_dir_;
  static ServerProcess* server_;
};

testing::TempDir* DashboardTest::dir_ = nullptr;
std::string DashboardTest::data_dir_;
ServerProcess* DashboardTest::server_ = nullptr;

TEST_F(DashboardTest, StatsEndpointReflectsTheTraffic) {
  json stats = WaitForSeries();
  auto ready = Http().Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(stats["model_version"], json::parse(ready->body)["model_version"]);
  const size_t n = stats["t"].size();
  for (const auto& [name, values] : stats["series"].items()) EXPECT_EQ(values.size(), n) << name;
  // Only the 400 was a failure, and it was the client's: no server errors.
  for (const auto& v : stats["series"]["error_rate"]) {
    if (v.is_number()) {
      EXPECT_EQ(v.get<double>(), 0);
    }
  }
  // The events went to items i0..i3: they trend now.
  std::set<std::string> top;
  for (const auto& item : stats["top_items"]) top.insert(item["item_id"].get<std::string>());
  EXPECT_TRUE(top.count("i0") || top.count("i1") || top.count("i2") || top.count("i3"))
      << stats["top_items"];
  EXPECT_EQ(stats["top_items"][0]["source"], "trending");
}

TEST_F(DashboardTest, HeadlessChromiumRendersPlotsAndTheTryItBox) {
  if (access(ChromiumBinary().c_str(), X_OK) != 0) {
    GTEST_SKIP() << ChromiumBinary() << " is not installed (scripts/setup.sh installs chromium)";
  }
  const json stats = WaitForSeries();
  const std::string profile = dir_->Sub("chromium");
  const std::string png_path = dir_->Sub("dashboard.png");
  const std::string dom_path = dir_->Sub("dom.html");
  const std::string err_path = dir_->Sub("chromium.err");
  const std::string url = StrCat("http://127.0.0.1:", server_->http_port(), "/?user=u1&n=10");
  const int rc =
      RunProgram({ChromiumBinary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars", StrCat("--user-data-dir=", profile),
                  StrCat("--window-size=", kWidth, ",", kHeight), "--virtual-time-budget=5000",
                  StrCat("--screenshot=", png_path), "--dump-dom", url},
                 dir_->path(), dom_path, err_path);
  ASSERT_EQ(rc, 0) << testing::ReadFile(err_path);
  const std::string dom = testing::ReadFile(dom_path);
  ASSERT_FALSE(dom.empty()) << testing::ReadFile(err_path);

  // (a) The DOM the page's JS built.
  const std::string version = stats["model_version"].get<std::string>();
  EXPECT_EQ(Attr(TagWithId(dom, "model-version"), "data-version"), version) << dom;
  EXPECT_EQ(TextOf(dom, "model-version"), version);
  EXPECT_EQ(Attr(TagWithId(dom, "status"), "data-state"), "ok") << dom;
  for (const char* plot : {"rps", "latency", "events", "freshness", "errors"}) {
    const std::string tag = TagWithId(dom, StrCat("plot-", plot));
    EXPECT_EQ(Attr(tag, "data-state"), "ok") << plot << ": " << tag;
    EXPECT_GE(IntAttr(tag, "data-points"), 3) << plot << ": " << tag;
  }
  double rps_max = 0;
  EXPECT_TRUE(ParseDouble(Attr(TagWithId(dom, "plot-rps"), "data-max"), &rps_max));
  EXPECT_GT(rps_max, 0);
  // Plots whose metrics are not exported (yet) say so instead of breaking the page.
  for (const char* plot : {"cache", "breakers", "slo", "fallback"}) {
    const std::string tag = TagWithId(dom, StrCat("plot-", plot));
    const std::string state = Attr(tag, "data-state");
    EXPECT_TRUE(state == "ok" || state == "empty" || state == "na") << plot << ": " << tag;
  }
  // Data quality is exported from the first recommend on: no violations on good data, and no
  // drift series until two windows were filled (or some, in any case not "n/a").
  const std::string violations = TagWithId(dom, "plot-violations");
  EXPECT_EQ(Attr(violations, "data-state"), "ok") << violations;
  EXPECT_EQ(Attr(violations, "data-max"), "0") << violations;
  const std::string drift = Attr(TagWithId(dom, "plot-drift"), "data-state");
  EXPECT_TRUE(drift == "ok" || drift == "empty") << drift;
  EXPECT_GE(IntAttr(TagWithId(dom, "top-items"), "data-count"), 1);

  // The try-it box ran a debug recommend for u1: items with explanation ids, and the trace.
  EXPECT_EQ(Attr(TagWithId(dom, "try-result"), "data-state"), "ok") << dom;
  EXPECT_EQ(IntAttr(TagWithId(dom, "try-items"), "data-count"), 10) << dom;
  const std::set<std::string> vocabulary = {"similar_to_recent", "matches_your_taste",
                                            "co_engaged_with_recent", "trending_now",
                                            "popular_now"};
  std::regex explanation("data-explanation=\"([^\"]*)\"");
  int explained = 0;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), explanation);
       it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(vocabulary.count((*it)[1].str())) << (*it)[1].str();
    ++explained;
  }
  EXPECT_EQ(explained, 10);
  EXPECT_GE(IntAttr(TagWithId(dom, "try-stages"), "data-count"), 3);
  EXPECT_NE(dom.find("<td>total</td>"), std::string::npos);  // the "total" stage row
  EXPECT_NE(TagWithId(dom, "try-removed"), "");

  // (b) The screenshot: the RPS line's pixels inside the RPS canvas.
  std::string error;
  std::optional<Image> image = DecodePng(testing::ReadFile(png_path), &error);
  ASSERT_TRUE(image) << error;
  ASSERT_EQ(image->width % kWidth, 0);
  const int scale = image->width / kWidth;  // device pixels per CSS pixel
  const std::string canvas_tag = dom.substr(dom.find("<canvas", dom.find("id=\"plot-rps\"")), 300);
  const std::string rect_text = Attr(canvas_tag, "data-rect");  // Split's views point into it
  std::vector<std::string_view> rect = Split(rect_text, ',');
  ASSERT_EQ(rect.size(), 4u) << canvas_tag;
  int64_t x0 = 0, y0 = 0, w = 0, h = 0;
  ASSERT_TRUE(ParseInt64(rect[0], &x0) && ParseInt64(rect[1], &y0) && ParseInt64(rect[2], &w) &&
              ParseInt64(rect[3], &h));
  ASSERT_GT(w, 100);
  ASSERT_LE((y0 + h) * scale, image->height) << "the RPS plot must be above the fold";
  int blue_pixels = 0;
  std::set<int64_t> blue_columns;
  for (int64_t y = y0 * scale; y < (y0 + h) * scale; ++y) {
    for (int64_t x = x0 * scale; x < (x0 + w) * scale; ++x) {
      if (IsLineBlue(image->At(static_cast<int>(x), static_cast<int>(y)))) {
        ++blue_pixels;
        blue_columns.insert(x / scale);
      }
    }
  }
  // The line runs across the plot (the 52-pixel axis margin excepted), not a stray dot.
  EXPECT_GE(static_cast<int64_t>(blue_columns.size()), (w - 60) / 2)
      << blue_pixels << " blue pixels in " << blue_columns.size() << " columns";
  // Control: the header band holds no line colour, so the count above measures the plot.
  int header_blue = 0;
  for (int y = 0; y < 30 * scale; ++y) {
    for (int x = 0; x < image->width; ++x) header_blue += IsLineBlue(image->At(x, y));
  }
  EXPECT_EQ(header_blue, 0);
}

}  // namespace
}  // namespace pulse::integration
