// The chukan release this binary is, as `chukan --version` prints it and backups record it.
#ifndef CHUKAN_COMMON_VERSION_H_
#define CHUKAN_COMMON_VERSION_H_

namespace chukan {

inline constexpr char kChukanVersion[] = "0.1.0";

}  // namespace chukan

#endif  // CHUKAN_COMMON_VERSION_H_
