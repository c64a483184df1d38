#include "store/outbox_pump.h"

#include <algorithm>

#include "common/ids.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace chukan::store {
namespace {

using SteadyDuration = std::chrono::steady_clock::duration;

// After a renewal that could not be written, the next try.
constexpr Duration kRenewRetry = std::chrono::seconds(1);
// All sources together hold at most this many times `in_hand` claimed items.
constexpr size_t kSourcesInHand = 4;
// The dispatcher looks at the clock at least this often (a clock set forward, say).
constexpr Duration kLongestWait = std::chrono::seconds(1);
// How long a lane rests after a busy answer (or its Retry-After, if shorter). Not the whole
// Retry-After: receivers say 1 s, the least HTTP can say, and a backlog the size of chukan's
// drains in a fraction of that — resting the lane for all of it left the receiver idle and cut
// the throughput under overload to 0.33× the sustainable rate (bench overload, dev tree). The
// busy item itself waits its Retry-After (Outbox::Defer); the lane's next batch is a probe.
constexpr Duration kBusyPause = std::chrono::milliseconds(100);
// A quiet source and topic (nothing found, nothing held) is claimed from again after at most
// this long (or one poll interval, when that is longer) even when nothing is known to be due:
// what another process queued without telling this one (another node of a cluster) is found
// within that time. Ten polls of the default 200 ms; a fixed bound rather than ten intervals,
// which stretched a long `poll_interval_ms` tenfold (1 h → 10 h).
constexpr Duration kQuietMost = std::chrono::seconds(2);

}  // namespace

struct OutboxPumpLink {
  Mutex mu;
  OutboxPump* pump GUARDED_BY(mu) = nullptr;  // null once the pump stops
};

OutboxHandoff::OutboxHandoff(const Outbox& outbox, std::function<void()> notify)
    : outbox_(outbox), notify_(std::move(notify)) {}

OutboxHandoff::OutboxHandoff(const Outbox& outbox, std::shared_ptr<OutboxPumpLink> link,
                             std::string source, std::string owner)
    : outbox_(outbox),
      link_(std::move(link)),
      source_(std::move(source)),
      owner_(std::move(owner)),
      reserved_(!owner_.empty()) {}

OutboxHandoff::~OutboxHandoff() {
  Settle(CancelledError("outbox handoff: its write never finished"));
}

Status OutboxHandoff::Enqueue(Transaction& tx, std::string_view topic, std::string_view dedupe_key,
                              const Bytes& payload) {
  leased_.reset();  // as if for the first time, if run again
  pending_ = false;
  if (!reserved_) {
    RETURN_IF_ERROR(outbox_.Enqueue(tx, topic, dedupe_key, payload, outbox_.clock().Now()));
    pending_ = true;
    return Status();
  }
  ASSIGN_OR_RETURN(leased_, outbox_.EnqueueLeased(tx, topic, dedupe_key, payload, owner_,
                                                  outbox_.Policy(topic).lease));
  return Status();
}

void OutboxHandoff::Settle(const Status& committed) {
  if (settled_) return;
  settled_ = true;
  const bool handed = committed.ok() && leased_.has_value();
  const bool announce = committed.ok() && pending_;
  if (link_ != nullptr) {
    MutexLock lock(link_->mu);
    OutboxPump* pump = link_->pump;
    if (pump == nullptr) {
      // The pump stopped: the item waits for its lease to end (or this instance's next Start).
      if (handed) {
        log::Info("outbox.handoff_after_stop",
                  {{"source", source_}, {"topic", leased_->topic}, {"item", leased_->id}});
      }
      return;
    }
    if (handed) {
      pump->Offer(source_, std::move(*leased_));
    } else if (reserved_) {
      pump->Unreserve(source_);
    }
    if (announce) pump->Notify();
    return;
  }
  if (announce && notify_) notify_();
}

std::shared_ptr<OutboxHandoff> OutboxPump::HandOff(const std::string& source) {
  bool room = false;
  {
    MutexLock lock(mu_);
    if (started_ && !stopping_ && Room(source, /*count_claims=*/false) > 0) {
      room = true;
      ++held_per_source_[source];
      ++reserved_;
    }
  }
  // Private constructor: make_shared cannot reach it.
  return std::shared_ptr<OutboxHandoff>(
      new OutboxHandoff(outbox_, link_, source, room ? owner_ : std::string()));
}

void OutboxPump::Offer(const std::string& source, OutboxItem item) {
  std::string lane = source + "\n" + item.topic + "\n" + courier_.Lane(item);
  const Duration lease = outbox_.Policy(item.topic).lease;
  bool ready = false;
  {
    MutexLock lock(mu_);
    reserved_ -= std::min<size_t>(reserved_, 1);  // the room it reserved is held now
    held_[{source, item.id}] = Held{item.topic, item.lease_until, item.lease_until - lease / 2};
    ++stats_.handed;
    const size_t bytes = item.payload.size();
    queue_.Add(std::move(lane), bytes, Job{source, std::move(item)});
    // Its lane may be full (peer_requests in flight): then a delivery's end takes it, and a
    // worker woken now would find nothing.
    ready = queue_.Ready();
  }
  if (ready) work_cv_.Signal();
}

void OutboxPump::Unreserve(const std::string& source) {
  MutexLock lock(mu_);
  reserved_ -= std::min<size_t>(reserved_, 1);
  size_t& held = held_per_source_[source];
  held -= std::min<size_t>(held, 1);
  RoomFreed(source);
}

void OutboxPump::RoomFreed(const std::string& source) {
  if (held_per_source_[source] == 0) WakeQuietPairs(source);
  if (!starved_.empty()) {
    more_.insert(starved_.begin(), starved_.end());
    starved_.clear();
    dispatch_cv_.Signal();
  }
}

Result<std::unique_ptr<OutboxPump>> OutboxPump::Create(const Outbox& outbox, OutboxCourier& courier,
                                                       OutboxPumpOptions options,
                                                       const Clock& clock) {
  if (options.topics.empty()) return InvalidArgumentError("outbox pump: no topics");
  if (options.instance.empty()) return InvalidArgumentError("outbox pump: empty instance");
  if (options.threads < 1 || options.batch_items < 1 || options.peer_requests < 1) {
    return InvalidArgumentError("outbox pump: threads, batch_items and peer_requests must be >= 1");
  }
  return std::unique_ptr<OutboxPump>(
      new OutboxPump(outbox, courier, std::move(options), clock));  // private constructor
}

std::future<Status> OutboxCourier::Submit(const std::string& source, WriteFn write) {
  auto outcome = std::make_shared<std::promise<Status>>();
  std::future<Status> f = outcome->get_future();
  SubmitAsync(source, std::move(write), [outcome](Status s) { outcome->set_value(std::move(s)); });
  return f;
}

OutboxPump::OutboxPump(const Outbox& outbox, OutboxCourier& courier, OutboxPumpOptions options,
                       const Clock& clock)
    : outbox_(outbox),
      courier_(courier),
      options_(std::move(options)),
      clock_(clock),
      owner_(options_.instance + ":" + RequestId::Generate().str().substr(0, 12)),
      in_hand_(options_.in_hand > 0
                   ? options_.in_hand
                   : std::max<size_t>(2 * static_cast<size_t>(options_.threads),
                                      4 * static_cast<size_t>(options_.batch_items))),
      link_(std::make_shared<OutboxPumpLink>()),
      queue_(static_cast<size_t>(options_.peer_requests), static_cast<size_t>(options_.batch_items),
             options_.batch_bytes) {
  MutexLock lock(link_->mu);
  link_->pump = this;
}

OutboxPump::~OutboxPump() { Stop(); }

Status OutboxPump::Start() {
  ASSIGN_OR_RETURN(std::vector<std::string> sources, courier_.Sources());
  const std::string prefix = options_.instance + ":";
  for (const std::string& source : sources) {
    auto released = std::make_shared<int64_t>(0);
    const Outbox& outbox = outbox_;
    const Status s = courier_
                         .Submit(source,
                                 [&outbox, released, prefix](Transaction& tx) -> Status {
                                   ASSIGN_OR_RETURN(*released, outbox.ReleaseLeases(tx, prefix));
                                   return Status();
                                 })
                         .get();
    if (!s.ok()) {
      // This source only: its stale leases run out by themselves.
      log::Warn(options_.log_prefix + ".delivery_release_failed",
                {{"source", source}, {"error", s.ToString()}});
    } else if (*released > 0) {
      log::Info(options_.log_prefix + ".delivery_leases_released",
                {{"source", source}, {"items", *released}});
    }
  }
  MutexLock lock(mu_);
  if (started_ || stopping_) return FailedPreconditionError("outbox pump: already started");
  started_ = true;
  dispatcher_ = std::thread([this] {
    NameThisThread("pump-dispatch");
    Dispatch();
  });
  for (int i = 0; i < options_.threads; ++i) {
    workers_.emplace_back([this] {
      NameThisThread("pump-send");
      Work();
    });
  }
  return Status();
}

void OutboxPump::Notify() {
  {
    MutexLock lock(mu_);
    notified_ = true;
    ++wakeups_;
    quiet_until_.clear();
  }
  dispatch_cv_.Signal();
}

void OutboxPump::Stop() {
  {
    // No handoff reaches the pump from here on (one settling now is waited for: it holds the
    // link's lock). What was handed over before is held, and released below if not delivered;
    // an item whose write commits later stays leased by this pump until its lease ends.
    MutexLock cut(link_->mu);
    link_->pump = nullptr;
  }
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  dispatch_cv_.SignalAll();
  work_cv_.SignalAll();
  courier_.OnStop();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  {
    // The claims and renewals still out (a slow database): they refer to this pump, and what
    // a claim brings back must be released below.
    MutexLock lock(mu_);
    while (writes_in_flight_ > 0) writes_cv_.Wait(lock);
  }
  // What is still held waited in the queue: let another claimer (or this instance's next run)
  // have it at once instead of after its lease.
  std::set<std::string> sources;
  {
    MutexLock lock(mu_);
    for (const auto& [key, held] : held_) sources.insert(key.first);
    queue_.Clear();
    held_.clear();
    held_per_source_.clear();
  }
  const Outbox& outbox = outbox_;
  const std::string owner = owner_;
  for (const std::string& source : sources) {
    Status s = courier_
                   .Submit(source,
                           [&outbox, owner](Transaction& tx) {
                             return outbox.ReleaseLeases(tx, owner).status();
                           })
                   .get();
    if (!s.ok()) {
      log::Warn(options_.log_prefix + ".delivery_release_failed",
                {{"source", source}, {"error", s.ToString()}});
    }
  }
}

OutboxPump::Stats OutboxPump::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

std::vector<std::string> OutboxPump::DueTopics() {
  const auto now = clock_.SteadyNow();
  std::vector<std::string> due;
  for (const std::string& topic : options_.topics) {
    auto it = next_poll_.find(topic);
    if (notified_ || more_.count(topic) > 0 || it == next_poll_.end() || it->second <= now) {
      due.push_back(topic);
      next_poll_[topic] =
          now + std::chrono::duration_cast<SteadyDuration>(outbox_.Policy(topic).poll_interval);
    }
  }
  notified_ = false;
  more_.clear();
  return due;
}

Duration OutboxPump::UntilNextRound() const {
  if (notified_ || !more_.empty()) return Duration::zero();
  Duration wait = kLongestWait;
  const auto now = clock_.SteadyNow();
  for (const auto& [topic, at] : next_poll_) {
    wait = std::min(wait, std::chrono::duration_cast<Duration>(at - now));
  }
  const TimePoint wall = clock_.Now();
  for (const auto& [key, held] : held_) {
    // A source's renewal still out: its items are looked at when it comes back.
    if (renewing_.count(key.first) > 0) continue;
    wait = std::min(wait, held.renew_at - wall);
  }
  return std::max(wait, Duration::zero());
}

void OutboxPump::Dispatch() {
  MutexLock lock(mu_);
  while (!stopping_) {
    const std::vector<std::string> topics = DueTopics();
    lock.Unlock();
    RenewLeases();
    if (!topics.empty()) Round(topics);
    lock.Lock();
    if (stopping_) break;
    const Duration wait = UntilNextRound();
    if (wait > Duration::zero()) dispatch_cv_.WaitFor(lock, wait);
  }
}

void OutboxPump::Round(const std::vector<std::string>& topics) {
  Result<std::vector<std::string>> sources = courier_.Sources();
  if (!sources.ok()) {
    log::Warn(options_.log_prefix + ".delivery_sources_failed",
              {{"error", sources.status().ToString()}});
    return;
  }
  const Outbox& outbox = outbox_;
  const std::string owner = owner_;
  const auto steady_now = clock_.SteadyNow();
  {
    // Quiet times that are over (and those of sources gone since) are forgotten.
    MutexLock lock(mu_);
    std::erase_if(quiet_until_, [&](const auto& q) { return q.second.until <= steady_now; });
  }
  for (const std::string& topic : topics) {
    const DeliveryPolicy& policy = outbox_.Policy(topic);
    const Duration lease = policy.lease;
    for (const std::string& source : *sources) {
      size_t limit = 0;
      bool look_ahead = false;
      uint64_t wakeups = 0;
      {
        MutexLock lock(mu_);
        if (stopping_) return;
        // The last claim has not come back (its database is slow): not another.
        if (claiming_.count({source, topic}) > 0) {
          claim_again_.insert({source, topic});
          continue;
        }
        if (quiet_until_.count({source, topic}) > 0) {
          ++stats_.quiet;
          continue;
        }
        const size_t held = held_per_source_[source];  // with its claims in flight
        const size_t room = Room(source);
        if (room == 0) {
          starved_.insert(topic);  // full: claim again when one of its deliveries is done
          continue;
        }
        limit = std::min<size_t>(room, static_cast<size_t>(policy.batch));
        // Nothing in hand from this source: if the claim finds nothing, it also asks when the
        // next item is due (a walk of the open items, cheap only while there are few).
        look_ahead = held == 0;
        wakeups = wakeups_;
        claiming_.insert({source, topic});
        held_per_source_[source] += limit;
        reserved_ += limit;
        claims_reserved_per_source_[source] += limit;
        claims_reserved_ += limit;
        ++writes_in_flight_;
        ++stats_.claims;
      }
      auto got = std::make_shared<ClaimResult>();
      const int want = static_cast<int>(limit);
      courier_.SubmitAsync(
          source,
          [&outbox, got, owner, want, lease, topic, look_ahead](Transaction& tx) -> Status {
            *got = ClaimResult();  // as if for the first time, if run again
            ASSIGN_OR_RETURN(got->items, outbox.Claim(tx, owner, want, lease, topic));
            if (look_ahead && got->items.empty()) {
              ASSIGN_OR_RETURN(got->next_due, outbox.NextDue(tx, topic, owner));
              got->looked_ahead = true;
            }
            return Status();
          },
          [this, got, source, topic, limit, wakeups](Status s) {
            Claimed(source, topic, limit, wakeups, s, s.ok() ? std::move(*got) : ClaimResult());
          });
    }
  }
  MutexLock lock(mu_);
  ++stats_.rounds;
}

size_t OutboxPump::Room(const std::string& source, bool count_claims) {
  // Held, with claims in flight and handoffs reserved. A handoff leaves out what claims in flight
  // reserved: a claim reserves up to a whole batch (all of `in_hand`, by default) and mostly
  // finds little, and a handoff refused during one adds its item pending and wakes the pump for
  // another claim, which reserved the room again — under load the handoffs fell back to claims.
  // So a source may hold, for the time of a claim, up to twice its room.
  size_t held = held_per_source_[source];
  size_t all = held_.size() + reserved_;
  if (!count_claims) {
    held -= claims_reserved_per_source_[source];
    all -= claims_reserved_;
  }
  return std::min(in_hand_ > held ? in_hand_ - held : 0,
                  kSourcesInHand * in_hand_ > all ? kSourcesInHand * in_hand_ - all : 0);
}

void OutboxPump::Claimed(const std::string& source, const std::string& topic, size_t reserved,
                         uint64_t wakeups, const Status& s, ClaimResult got) {
  std::vector<OutboxItem>& items = got.items;
  if (!s.ok()) {
    // This source only: the others are claimed from as usual.
    log::Warn(options_.log_prefix + ".delivery_claim_failed",
              {{"source", source}, {"topic", topic}, {"error", s.ToString()}});
  }
  std::vector<std::string> lanes;
  lanes.reserve(items.size());
  for (const OutboxItem& item : items) {
    lanes.push_back(source + "\n" + topic + "\n" + courier_.Lane(item));
  }
  const Duration lease = outbox_.Policy(topic).lease;
  {
    MutexLock lock(mu_);
    claiming_.erase({source, topic});
    // A round wanted this source and topic meanwhile: the next one claims again.
    const bool again = claim_again_.erase({source, topic}) > 0;
    size_t& held = held_per_source_[source];
    held -= std::min(held, reserved);
    reserved_ -= std::min(reserved_, reserved);
    size_t& by_claims = claims_reserved_per_source_[source];
    by_claims -= std::min(by_claims, reserved);
    claims_reserved_ -= std::min(claims_reserved_, reserved);
    for (size_t i = 0; i < items.size(); ++i) {
      OutboxItem& item = items[i];
      held_[{source, item.id}] = Held{topic, item.lease_until, item.lease_until - lease / 2};
      const size_t bytes = item.payload.size();
      queue_.Add(std::move(lanes[i]), bytes, Job{source, std::move(item)});
    }
    held += items.size();
    stats_.claimed += static_cast<int64_t>(items.size());
    // Found nothing, and no Notify meanwhile: quiet until the next item is due, or (the source
    // held items, so nobody asked) until the source holds nothing or records an outcome.
    if (s.ok() && items.empty() && !again && wakeups == wakeups_) {
      const Duration most = std::max<Duration>(kQuietMost, outbox_.Policy(topic).poll_interval);
      Duration until = most;
      if (got.next_due) until = std::clamp(*got.next_due - clock_.Now(), Duration::zero(), most);
      if (until > Duration::zero()) {
        quiet_until_[{source, topic}] =
            Quiet{clock_.SteadyNow() + std::chrono::duration_cast<SteadyDuration>(until),
                  !got.looked_ahead};
      }
    }
    if (held == 0) WakeQuietPairs(source);
    // A full claim suggests more is waiting: claim again at once.
    if (s.ok() && (again || (!items.empty() && items.size() == reserved))) {
      more_.insert(topic);
      dispatch_cv_.Signal();
    }
    // Room this claim had reserved and did not fill: topics a round found no room for meanwhile
    // are claimed again (no delivery may come to free it: the claim found nothing).
    if (items.size() < reserved && !starved_.empty()) {
      more_.insert(starved_.begin(), starved_.end());
      starved_.clear();
      dispatch_cv_.Signal();
    }
    WriteBack();
  }
  // One worker: it wakes the next if more is ready (Work). Waking all of them for one batch
  // had every idle worker wake, find nothing and sleep again — on the hub, 16 threads for each
  // claim, the most context switches of any thread there.
  if (!items.empty()) work_cv_.Signal();
}

void OutboxPump::WakeQuietPairs(const std::string& source) {
  for (auto it = quiet_until_.lower_bound({source, std::string()});
       it != quiet_until_.end() && it->first.first == source;) {
    it = it->second.until_idle ? quiet_until_.erase(it) : std::next(it);
  }
}

void OutboxPump::WriteBack() {
  if (--writes_in_flight_ == 0) writes_cv_.SignalAll();
}

int64_t OutboxPump::RenewLeases() {
  const TimePoint now = clock_.Now();
  std::map<std::string, std::vector<std::pair<int64_t, Duration>>> due;  // source → id, lease
  {
    MutexLock lock(mu_);
    for (auto& [key, held] : held_) {
      // A source whose last renewal has not come back: its items wait for that one.
      if (held.renew_at > now || renewing_.count(key.first) > 0) continue;
      due[key.first].emplace_back(key.second, outbox_.Policy(held.topic).lease);
    }
    for (const auto& [source, ids] : due) {
      renewing_.insert(source);
      ++writes_in_flight_;
      // Not due again until this renewal comes back (it sets the next time).
      for (const auto& [id, lease] : ids) held_[{source, id}].renew_at = TimePoint::max();
    }
  }
  auto renewed = std::make_shared<int64_t>(0);
  const Outbox& outbox = outbox_;
  const std::string owner = owner_;
  for (auto& entry : due) {
    const std::string source = entry.first;
    auto ids =
        std::make_shared<const std::vector<std::pair<int64_t, Duration>>>(std::move(entry.second));
    auto kept = std::make_shared<std::vector<bool>>(ids->size(), false);
    courier_.SubmitAsync(
        source,
        [&outbox, owner, ids, kept](Transaction& tx) -> Status {
          for (size_t i = 0; i < ids->size(); ++i) {
            ASSIGN_OR_RETURN(bool ok, outbox.Renew(tx, (*ids)[i].first, owner, (*ids)[i].second));
            (*kept)[i] = ok;
          }
          return Status();
        },
        [this, source, ids, kept, now, renewed](Status s) {
          if (!s.ok()) {
            log::Warn(options_.log_prefix + ".delivery_renew_failed",
                      {{"source", source}, {"error", s.ToString()}});
          }
          MutexLock lock(mu_);
          int64_t n = 0;
          for (size_t i = 0; i < ids->size(); ++i) {
            auto it = held_.find({source, (*ids)[i].first});
            if (it == held_.end()) continue;  // recorded meanwhile
            Held& held = it->second;
            const Duration lease = (*ids)[i].second;
            if (!s.ok()) {
              held.renew_at = now + kRenewRetry;
            } else if ((*kept)[i]) {
              held.lease_until = now + lease;
              held.renew_at = held.lease_until - lease / 2;
              ++n;
            } else {
              held.renew_at = TimePoint::max();  // lost to another claimer: its outcome will be too
            }
          }
          stats_.renewed += n;
          *renewed += n;
          renewing_.erase(source);
          WriteBack();
          dispatch_cv_.Signal();  // items of this source that fell due meanwhile
        });
  }
  // Those that came back already (a courier whose writes do not wait: all of them).
  MutexLock lock(mu_);
  return *renewed;
}

std::optional<Duration> OutboxPump::ResumeLanes() {
  if (paused_until_.empty()) return std::nullopt;
  const TimePoint now = clock_.Now();
  std::optional<Duration> next;
  for (auto it = paused_until_.begin(); it != paused_until_.end();) {
    if (it->second <= now) {
      queue_.Resume(it->first);
      it = paused_until_.erase(it);
      continue;
    }
    next = std::min(next.value_or(it->second - now), it->second - now);
    ++it;
  }
  return next;
}

void OutboxPump::Work() {
  while (true) {
    LaneBatcher<Job>::Batch batch;
    {
      MutexLock lock(mu_);
      bool woken = false;  // by a signal, not by a pause's end
      while (!stopping_) {
        const std::optional<Duration> pause = ResumeLanes();
        if (queue_.Ready()) break;
        if (woken) ++stats_.idle_wakes;
        if (pause) {
          // By the pump's clock, looked at again at least every second.
          woken = work_cv_.WaitFor(lock, std::min(*pause, kLongestWait));
        } else {
          work_cv_.Wait(lock);
          woken = true;
        }
      }
      if (stopping_) return;
      batch = std::move(*queue_.Take());
      // More is ready than this worker takes: the next worker goes too (each wakes one more).
      if (queue_.Ready()) work_cv_.Signal();
    }
    DeliverBatch(batch);
  }
}

int64_t OutboxPump::RunOnce() {
  std::vector<std::string> topics;
  {
    MutexLock lock(mu_);
    topics = DueTopics();
  }
  RenewLeases();
  if (!topics.empty()) Round(topics);
  {
    const auto deadline = std::chrono::steady_clock::now() + options_.run_once_wait;
    MutexLock lock(mu_);
    while (writes_in_flight_ > 0 && writes_cv_.WaitUntil(lock, deadline)) {
    }
  }
  int64_t handed = 0;
  while (true) {
    LaneBatcher<Job>::Batch batch;
    {
      MutexLock lock(mu_);
      ResumeLanes();
      if (stopping_ || !queue_.Ready()) break;
      batch = std::move(*queue_.Take());
    }
    handed += static_cast<int64_t>(batch.items.size());
    DeliverBatch(batch);
  }
  return handed;
}

void OutboxPump::DeliverBatch(LaneBatcher<Job>::Batch& batch) {
  const std::string source = batch.items.front().source;
  std::vector<OutboxItem> items;
  items.reserve(batch.items.size());
  for (Job& job : batch.items) items.push_back(std::move(job.item));
  std::vector<Delivery> outcomes = courier_.Deliver(source, items, owner_);
  outcomes.resize(items.size(), Delivery{DeliveryOutcome::kRetry, "no outcome from the courier"});
  Duration pause{};
  for (const Delivery& d : outcomes) {
    if (d.outcome == DeliveryOutcome::kBusy) {
      pause = std::max(pause, std::min(d.retry_after, kBusyPause));
    }
  }
  // The lane's delivery is over: the next batch for the same receiver may go while this one's
  // outcomes are written. (Waiting for the durable write first put a database commit into every
  // lane's cycle: on PostgreSQL the hub's one receiver waited for it with both its slots.) The
  // items stay held, and their leases renewed, until their outcomes are recorded (below).
  bool more = false;
  {
    MutexLock lock(mu_);
    queue_.Done(batch.lane);
    if (pause > Duration::zero()) {
      // The receiver is overloaded: the lane's other items wait here a moment (kBusyPause).
      TimePoint& until = paused_until_[batch.lane];
      until = std::max(until, clock_.Now() + pause);
      queue_.Pause(batch.lane);
      ++stats_.paused;
    }
    more = queue_.Ready();
  }
  // The lane has room again: one worker, if that made a batch ready (as in the claim).
  if (more) work_cv_.Signal();

  // Record every outcome in one write (one durable commit for the batch).
  auto lost = std::make_shared<std::vector<bool>>(items.size(), false);
  const Outbox& outbox = outbox_;
  const std::string owner = owner_;
  const TimePoint now = clock_.Now();
  auto record = [&outbox, owner, lost, &items, &outcomes, now](Transaction& tx) -> Status {
    std::fill(lost->begin(), lost->end(), false);  // as if for the first time, if run again
    // The delivered items in one statement: the common case, and on PostgreSQL one round trip
    // for the whole batch instead of two per item.
    std::vector<int64_t> done;
    for (size_t i = 0; i < items.size(); ++i) {
      if (outcomes[i].outcome == DeliveryOutcome::kDone) done.push_back(items[i].id);
    }
    ASSIGN_OR_RETURN(const std::vector<int64_t> acked, outbox.AckAll(tx, done, owner));
    for (size_t i = 0; i < items.size(); ++i) {
      const int64_t id = items[i].id;
      const Delivery& d = outcomes[i];
      Status s;
      switch (d.outcome) {
        case DeliveryOutcome::kDone:
          // Not acknowledged: the lease passed to another claimer (as below).
          if (!std::binary_search(acked.begin(), acked.end(), id)) (*lost)[i] = true;
          continue;
        case DeliveryOutcome::kRetry:
          s = outbox.Fail(tx, id, owner, d.error);
          break;
        case DeliveryOutcome::kGiveUp:
          s = outbox.Bury(tx, id, owner, d.error);
          break;
        case DeliveryOutcome::kBusy:
          s = outbox.Defer(tx, id, owner, now + d.retry_after, d.error);
          break;
        case DeliveryOutcome::kRecorded:
          continue;
      }
      // The lease passed to another claimer, which delivers the item again (receivers are
      // idempotent): not worth failing the others' records for.
      if (s.code() == StatusCode::kFailedPrecondition) {
        (*lost)[i] = true;
        continue;
      }
      RETURN_IF_ERROR(s);
    }
    return Status();
  };
  const bool any = std::any_of(outcomes.begin(), outcomes.end(), [](const Delivery& d) {
    return d.outcome != DeliveryOutcome::kRecorded;
  });
  // Waited for: `record` refers to this frame.
  const Status s = any ? courier_.Submit(source, record).get() : Status();
  if (!s.ok()) {
    // Nothing recorded: the leases run out and the items are delivered again.
    log::Warn(options_.log_prefix + ".delivery_record_failed",
              {{"source", source},
               {"items", static_cast<int64_t>(items.size())},
               {"error", s.ToString()}});
  }
  Stats counted;
  for (size_t i = 0; i < items.size(); ++i) {
    const OutboxItem& item = items[i];
    const Delivery& d = outcomes[i];
    if (d.outcome == DeliveryOutcome::kRecorded) {
      ++counted.recorded;
      continue;
    }
    if (!s.ok()) continue;
    if ((*lost)[i]) {
      ++counted.lost;
      continue;
    }
    if (d.outcome == DeliveryOutcome::kDone) {
      ++counted.delivered;
      continue;
    }
    if (d.outcome == DeliveryOutcome::kBusy) {
      ++counted.deferred;  // not logged item by item: an overload would flood the log
      continue;
    }
    const bool dead = d.outcome == DeliveryOutcome::kGiveUp ||
                      item.attempts >= outbox_.Policy(item.topic).max_attempts;
    ++(dead ? counted.dead : counted.retried);
    log::Warn(options_.log_prefix + (dead ? ".delivery_dead" : ".delivery_failed"),
              {{"source", source},
               {"topic", item.topic},
               {"key", item.dedupe_key},
               {"attempt", item.attempts},
               {"error", d.error}});
  }
  MutexLock lock(mu_);
  stats_.delivered += counted.delivered;
  stats_.retried += counted.retried;
  stats_.dead += counted.dead;
  stats_.lost += counted.lost;
  stats_.recorded += counted.recorded;
  stats_.deferred += counted.deferred;
  for (const OutboxItem& item : items) held_.erase({source, item.id});
  size_t& held = held_per_source_[source];
  held -= std::min(held, items.size());
  // Outcomes were recorded: what they left pending (a retry, a busy answer's Retry-After) may be
  // due before the quiet's end, so the pairs quiet while the source held items are polled again.
  // Under an overload the source always holds items and its admissions stop, so nothing else
  // would wake them: its deferred items would wait the whole 2 s.
  WakeQuietPairs(source);
  RoomFreed(source);
}

}  // namespace chukan::store
