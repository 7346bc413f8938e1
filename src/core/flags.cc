#include "core/flags.h"

#include <cstdio>

namespace pulse {

Result<Flags> Flags::Parse(const std::vector<std::string>& args,
                           const std::set<std::string>& value_flags,
                           const std::set<std::string>& bool_flags) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_inline_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_value = true;
    }
    if (bool_flags.count(name)) {
      if (has_inline_value) return InvalidArgumentError(StrCat("--", name, " takes no value"));
      flags.values_[name] = "true";
    } else if (value_flags.count(name)) {
      if (!has_inline_value) {
        if (i + 1 >= args.size()) return InvalidArgumentError(StrCat("--", name, " needs a value"));
        value = args[++i];
      }
      flags.values_[name] = value;
    } else {
      return InvalidArgumentError(StrCat("unknown flag --", name));
    }
  }
  return flags;
}

std::string Flags::GetString(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Result<int64_t> Flags::GetInt(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t value = 0;
  if (!ParseInt64(it->second, &value)) {
    return InvalidArgumentError(
        StrCat("--", name, ": expected an integer, got '", it->second, "'"));
  }
  return value;
}

Result<double> Flags::GetDouble(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  double value = 0;
  if (!ParseDouble(it->second, &value)) {
    return InvalidArgumentError(StrCat("--", name, ": expected a number, got '", it->second, "'"));
  }
  return value;
}

Result<std::string> Flags::Require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    return InvalidArgumentError(StrCat("--", name, " is required"));
  }
  return it->second;
}

int ExitWithError(const std::string& command, const Status& status) {
  std::fprintf(stderr, "pulse %s: %s\n", command.c_str(), status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace pulse
