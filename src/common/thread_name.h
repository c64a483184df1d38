// NameThisThread: gives the calling thread a name the kernel shows (top -H, ps -L, perf, gdb,
// /proc/<pid>/task/<tid>/comm), so that an operator can see which of a process's threads burns
// CPU or switches context — the io threads, the handler workers, the group committer, the
// outbox pump.
//
// Linux keeps 15 bytes of a name; a longer one is cut there. Names are short ASCII,
// "chukan-" left out (the process name says it): "http-io", "http-work", "commit", "pump-work".
#ifndef CHUKAN_COMMON_THREAD_NAME_H_
#define CHUKAN_COMMON_THREAD_NAME_H_

#include <string>
#include <string_view>

namespace chukan {

// Names the calling thread (the first 15 bytes of `name`). Failures are ignored: a name is a
// diagnostic, never needed for the work.
void NameThisThread(std::string_view name);

// The calling thread's name as the kernel has it ("" if it cannot be read).
std::string ThisThreadName();

}  // namespace chukan

#endif  // CHUKAN_COMMON_THREAD_NAME_H_
