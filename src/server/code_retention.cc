#include "server/code_retention.h"

#include <limits>
#include <optional>
#include <vector>

#include "common/log.h"
#include "server/subject_codes.h"

namespace chukan::server {
namespace {

constexpr int64_t kDayUs = int64_t{86'400} * 1'000'000;

// Whether an inquiry or a provision row names `code` (the indexes inquiries_subject and
// provisions_subject).
Result<bool> Named(store::Transaction& tx, const std::string& code) {
  for (const char* table : {"inquiries", "provisions"}) {
    ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT 1 FROM ") + table +
                                               " WHERE subject_code = ? LIMIT 1",
                                           {code}));
    if (row) return true;
  }
  return false;
}

}  // namespace

Result<CodeRetention::Outcome> CodeRetention::Sweep(TenantContext& st) {
  const TimePoint now = clock_.Now();
  std::optional<Walk> last;
  {
    MutexLock lock(mu_);
    auto it = walks_.find(st.id.str());
    // A tenant re-created under the same id starts afresh.
    if (it != walks_.end() && it->second.generation == st.generation) last = it->second;
  }
  Outcome out;
  Walk walk;
  if (last && last->active) {
    walk = *last;
  } else if (last && now < last->started + options_.interval) {
    return out;
  } else {
    walk = Walk{st.generation, true, now, std::numeric_limits<int64_t>::min(), ""};
  }
  ASSIGN_OR_RETURN(replica::ReplicaStore * replicas, st.Replicas());
  const int64_t cutoff = ToUnixMicros(now) - options_.code_days * kDayUs;
  struct Free {
    std::string code;
    AtenaNo atena;
  };
  std::vector<Free> unneeded;
  {
    ASSIGN_OR_RETURN(auto tx, st.db->BeginRead());
    ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                     tx->Query("SELECT subject_code, atena_sealed, registered_at_us"
                               " FROM subject_codes WHERE registered_at_us <= ?"
                               " AND registered_at_us >= ?"
                               " AND (registered_at_us > ? OR subject_code > ?)"
                               " ORDER BY registered_at_us, subject_code LIMIT ?",
                               {cutoff, walk.after_registered, walk.after_registered,
                                walk.after_code, options_.checks}));
    for (const store::Row& row : rows) {
      ASSIGN_OR_RETURN(std::string code, row.GetText(0));
      ASSIGN_OR_RETURN(crypto::Bytes sealed, row.GetBlob(1));
      ASSIGN_OR_RETURN(walk.after_registered, row.GetInt(2));
      walk.after_code = code;
      ++out.checked;
      ASSIGN_OR_RETURN(bool named, Named(*tx, code));
      if (named) continue;
      Result<AtenaNo> atena = SubjectCodes::OpenAtena(st, code, sealed);
      if (!atena.ok()) {
        log::Warn("linkage.code_unreadable",
                  {{"tenant", st.id.str()}, log::StatusField(atena.status())});
        continue;
      }
      ASSIGN_OR_RETURN(bool held, replicas->HoldsResident(*tx, *atena));
      if (!held) unneeded.push_back({std::move(code), *std::move(atena)});
    }
    RETURN_IF_ERROR(tx->Commit());
    if (static_cast<int64_t>(rows.size()) < options_.checks) walk.active = false;  // done
  }
  if (!unneeded.empty()) {
    // Every condition again, in the write: what changed since the read keeps its code.
    RETURN_IF_ERROR(st.Commit([&](store::Transaction& tx) -> Status {
      out.deleted = 0;
      for (const Free& f : unneeded) {
        ASSIGN_OR_RETURN(bool held, replicas->HoldsResident(tx, f.atena));
        if (held) continue;
        ASSIGN_OR_RETURN(int64_t n, tx.ExecCount("DELETE FROM subject_codes WHERE subject_code = ?"
                                                 " AND registered_at_us <= ?"
                                                 " AND NOT EXISTS (SELECT 1 FROM inquiries"
                                                 " WHERE subject_code = ?)"
                                                 " AND NOT EXISTS (SELECT 1 FROM provisions"
                                                 " WHERE subject_code = ?)",
                                                 {f.code, cutoff, f.code, f.code}));
        out.deleted += n;
      }
      return Status();
    }));
  }
  MutexLock lock(mu_);
  walks_.insert_or_assign(st.id.str(), std::move(walk));
  return out;
}

}  // namespace chukan::server
