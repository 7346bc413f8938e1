// core/strings.h — small string utilities used project-wide.
// StrCat concatenates strings, string_views, chars, integers and floating-point numbers into
// one std::string with a single allocation for the common case.
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

namespace strings_internal {
inline void Append(std::string& out, std::string_view piece) { out.append(piece); }
inline void Append(std::string& out, const char* piece) { out.append(piece ? piece : "(null)"); }
inline void Append(std::string& out, const std::string& piece) { out.append(piece); }
inline void Append(std::string& out, char c) { out.push_back(c); }
inline void Append(std::string& out, bool b) { out.append(b ? "true" : "false"); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void Append(std::string& out, T value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}
template <std::floating_point T>
void Append(std::string& out, T value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}
}  // namespace strings_internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  out.reserve(64);
  (strings_internal::Append(out, args), ...);
  return out;
}

template <typename... Args>
void StrAppend(std::string& out, const Args&... args) {
  (strings_internal::Append(out, args), ...);
}

// Splits on a single-character delimiter; keeps empty fields.
std::vector<std::string_view> Split(std::string_view text, char delim);
// Splits on a multi-character delimiter ("::" in MovieLens .dat files); keeps empty fields.
std::vector<std::string_view> Split(std::string_view text, std::string_view delim);
std::string_view Trim(std::string_view text);

// Parses a whole field as a number; false on any trailing garbage, overflow or empty input.
bool ParseInt64(std::string_view text, int64_t* out);
bool ParseDouble(std::string_view text, double* out);

// Transparent hashing so unordered containers keyed by std::string look up by string_view
// without allocating.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace pulse
