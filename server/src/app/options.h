// SPDX-License-Identifier: MIT
#pragma once

#include "service/settings.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace livecomments::server {

/// How an option's value is checked.
enum class OptionKind {
    Flag, ///< no argument on the command line; `true`/`false` in the config file
    Text, ///< any text (parsed further by loadSettings where it has a format)
    Integer, ///< a decimal integer in [min, max]
};

/// One server option: the single declaration that drives the Poco OptionSet, the .properties key
/// of the same name, `--help`, range validation and (through a test) docs/server.md.
struct OptionSpec {
    const char* name; ///< `--name=value` and the .properties key
    const char* argument; ///< placeholder in --help; nullptr for a flag
    const char* defaultText; ///< the default as shown in --help and the .properties file
    OptionKind kind;
    long long min; ///< Integer only
    long long max; ///< Integer only
    const char* help;
    bool configKey; ///< also a .properties key (false: command line only, e.g. --help)
    /// May be given several times on the command line; the values are joined with ',' (the
    /// .properties key takes the comma-separated list).
    bool repeatable = false;
};

/// Every option of `livecomments-server` (the `token` subcommand has its own, see runTokenCommand).
const std::vector<OptionSpec>& optionTable();
/// The entry called `name`, or nullptr.
const OptionSpec* findOption(const std::string& name);

/// Looks up a setting by option name (command line first, then the config file); nullopt if unset.
using SettingLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Builds Settings from `lookup`, checking every value against optionTable(); throws
/// std::invalid_argument naming the option on a bad value.
Settings loadSettings(const SettingLookup& lookup);

/// How many snowflake node ids this region has (all 1024 without peer regions): the node ids
/// n × regionCount + regionSlot below 1024 (docs/operations.md "Regions").
std::uint32_t regionNodeIds(const Settings& settings);

/// The version string (CMake's PROJECT_VERSION).
const char* serverVersion();

} // namespace livecomments::server
