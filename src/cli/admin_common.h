// What the administrative commands (tenant, client, staff) share: opening the platform named by
// the server's configuration file, and reading an organisation code, with errors printed for
// the operator (Japanese first, English after a slash). Not thread-safe (writes to stderr).
#ifndef CHUKAN_CLI_ADMIN_COMMON_H_
#define CHUKAN_CLI_ADMIN_COMMON_H_

#include <memory>
#include <string>

#include "common/ids.h"
#include "common/status.h"
#include "server/platform.h"

namespace chukan::cli {

// "chukan: <what_ja> / <what_en>: <CODE: message>" on stderr.
void PrintError(const char* what_ja, const char* what_en, const Status& s);

// Loads the configuration file and opens the platform (creating missing keys when
// `create_keys`). Prints the error and returns it when either fails.
Result<std::unique_ptr<server::Platform>> OpenPlatform(const std::string& config_path,
                                                       bool create_keys);

// Parses a 16-digit organisation code given as `flag` ("--org", "--tenant"); prints the error.
Result<OrgCode> ParseOrgFlag(const char* flag, const std::string& text);

}  // namespace chukan::cli

#endif  // CHUKAN_CLI_ADMIN_COMMON_H_
