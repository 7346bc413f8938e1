// core/flags.h — command-line flags for `pulse <command> ...`.
//
// Accepts `--name value` and `--name=value`; `--flag` alone for booleans. Unknown flags, missing
// values and malformed numbers are InvalidArgument errors naming the flag, which commands turn
// into exit code 2 with the message.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace pulse {

class Flags {
 public:
  // `value_flags` take a value; `bool_flags` do not. Positional arguments are kept in order.
  static Result<Flags> Parse(const std::vector<std::string>& args,
                             const std::set<std::string>& value_flags,
                             const std::set<std::string>& bool_flags = {});

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string GetString(const std::string& name, const std::string& fallback = "") const;
  Result<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  Result<double> GetDouble(const std::string& name, double fallback) const;
  bool GetBool(const std::string& name) const { return Has(name); }
  // Fails with InvalidArgument("--name is required") when absent.
  Result<std::string> Require(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Prints "pulse <command>: <message>" to stderr and returns the CLI exit code for `status`:
// 2 for InvalidArgument (bad usage/config), 1 otherwise.
int ExitWithError(const std::string& command, const Status& status);

}  // namespace pulse
