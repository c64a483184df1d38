// OutboxPump: the one loop that delivers outboxes — the hub's (hub::Deliverer: permits and
// results to the organisations' servers) and the tenants' (server::LinkageSender: permit
// requests and answers to the hub). It owns everything the two have in common: the dispatcher
// and worker threads, the wake-ups, polling, claiming in batches from several databases (one
// per tenant, or the hub's one), lease renewal, and recording each outcome (acknowledged,
// retried after the topic's backoff, or dead). What a message is and how it is sent stays with
// an OutboxCourier.
//
// Per topic, the outbox's DeliveryPolicy (Outbox::Policy) says how often the pump looks for due
// items (poll_interval), how many it claims from one database at once (batch), how long a claim
// holds them (lease), and how failures are retried (max_attempts, backoff_base, backoff_cap,
// applied by Outbox::Fail).
//
// Threads (Start): one dispatcher claims (OutboxCourier::SubmitAsync: it never waits for a
// source's database; a source whose claim has not come back is skipped until it has), for each
// topic whose poll is due (or after Notify(), or at once again after a claim that filled its
// batch), up to the topic's batch from every source that holds fewer than `in_hand` items in the
// pump and is not quiet (a source and topic whose last claim found nothing; see quiet_until_),
// into a LaneBatcher with one lane per source, topic and OutboxCourier::Lane (e.g. the
// receiving organisation). `threads` workers take the oldest item whose lane has fewer than
// `peer_requests` deliveries in flight, with the other items waiting in that lane (up to
// `batch_items`), and hand them to the courier in one Deliver call. One source (a tenant) with a
// slow or failing receiver therefore holds at most `peer_requests` workers and `in_hand` claimed
// items (all together hold at most 4 · in_hand); the others go on. A lane whose receiver answered
// busy (kBusy) rests 100 ms (or the answer's Retry-After, if shorter): its other items wait in
// the pump instead of each being sent and turned away, then the next batch probes the receiver
// again; the other lanes go on. (The busy items themselves wait their Retry-After.) The
// dispatcher renews the leases of the items the pump holds (waiting or in flight) once half their
// lease passed.
//
// Handoffs (HandOff, OutboxHandoff): a process whose writes add the items its own pump delivers
// (a tenant's inquiry, the hub's permit) hands each item over in memory, added leased by the
// pump, instead of waking the pump to claim it: no claim, no wake-up of the dispatcher, one write
// fewer on every message's path. Handed items take the same room (`in_hand`) as claimed ones.
//
// Waiting: the pump reads time only from its Clock; its threads wait on one condition variable
// until the next poll or renewal (by that clock, looked at again at least every second) or a
// wake-up (Notify, room freed, Stop). Tests use a FakeClock and call RunOnce() on their own
// thread (no pump threads at all), or start the pump and wake it with Notify().
//
// Thread-safety: Notify, Stop, stats and RenewLeases are thread-safe. RunOnce must not be
// called while the pump is started.
#ifndef CHUKAN_STORE_OUTBOX_PUMP_H_
#define CHUKAN_STORE_OUTBOX_PUMP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/lane_batcher.h"
#include "common/mutex.h"
#include "common/status.h"
#include "store/database.h"
#include "store/outbox.h"

namespace chukan::store {

// What became of one item handed to OutboxCourier::Deliver.
enum class DeliveryOutcome {
  // Nothing more to send: delivered, or answered for good (e.g. refused by a receiver that will
  // never take it). Acknowledged.
  kDone,
  // Failed for now (no answer, 5xx …): retried after the topic's backoff; dead after its
  // max_attempts.
  kRetry,
  // Failed for good (e.g. an item the courier cannot read): dead at once, kept for an operator.
  kGiveUp,
  // The courier already recorded the outcome itself (Outbox::Ack/Fail in its own write, with
  // the state change the answer causes): the pump writes nothing.
  kRecorded,
  // The receiver is overloaded and said so (HTTP 429, or 503 BUSY): sent again after `retry_after`
  // (Outbox::Defer). Not a failed attempt: an item waits out any length of overload, never dead
  // for it.
  kBusy,
};
struct Delivery {
  DeliveryOutcome outcome = DeliveryOutcome::kRetry;
  std::string error;       // kRetry, kGiveUp, kBusy: stored as the item's last_error
  Duration retry_after{};  // kBusy: how long the receiver asked to be left alone
};

// The side of a delivery that knows its messages. Implemented by hub::Deliverer and
// server::LinkageSender; its methods are called on the pump's threads (Deliver concurrently for
// different lanes) and must not call back into the pump, except Notify.
class OutboxCourier {
 public:
  using WriteFn = std::function<Status(Transaction&)>;
  virtual ~OutboxCourier() = default;
  // The sources (databases) to claim from now, each by a name that is stable for the source
  // (e.g. the tenant id; "" for a single database). Called once per dispatcher round.
  virtual Result<std::vector<std::string>> Sources() = 0;
  // Runs `write` in one write transaction of `source`'s database and calls `done` with the
  // outcome once the write is committed (or failed): on whichever thread completes the write, or
  // on the caller's before returning. Usually through the database's group committer. The
  // pump's dispatcher claims and renews through it and never waits for one source's database,
  // so a tenant whose database stalls (a long import holding its SQLite writer, a row lock
  // another node holds) does not hold up the claims of the others. `done` is quick. The pump's
  // writes are safe to run twice (GroupCommitter::Rerun::kSafe): each resets what it sets
  // outside the transaction before setting it, so a committer may try them at once. And they are
  // all bookkeeping (claims, renewals, acknowledgements, retries): one lost in a crash of the
  // machine only means a delivery again, to an idempotent receiver, so a courier commits them
  // lazily (GroupCommitter::Durability::kLazy): durable with the next durable commit, none of
  // their own (docs/storage.md, "Lazy commits").
  using DoneFn = std::function<void(Status)>;
  virtual void SubmitAsync(const std::string& source, WriteFn write, DoneFn done) = 0;
  // As SubmitAsync, the outcome in a future (for the workers, whose records wait for it).
  virtual std::future<Status> Submit(const std::string& source, WriteFn write);
  // Items of one source and topic with the same lane may travel together (e.g. the receiving
  // organisation). Default: one lane per source and topic.
  virtual std::string Lane(const OutboxItem& /*item*/) { return {}; }
  // Delivers `items` (one source, topic and lane; oldest first; leased by `owner`) and returns
  // one Delivery per item, in order (a missing one counts as kRetry).
  virtual std::vector<Delivery> Deliver(const std::string& source,
                                        const std::vector<OutboxItem>& items,
                                        const std::string& owner) = 0;
  // Called by OutboxPump::Stop once no new delivery starts, before it waits for the deliveries
  // in hand: a courier may cut them short here. Default: nothing.
  virtual void OnStop() {}
};

class OutboxPump;
struct OutboxPumpLink;  // a handoff's way to its pump, cut when the pump stops (outbox_pump.cc)

// One outbox item handed from the write that adds it to the pump that delivers it, with no claim
// between (OutboxPump::HandOff). A claim is a write of its own, and a wake-up of the dispatcher,
// the database's committer and a worker, on every message's path: with a handoff the write adds
// the item already leased by the pump (Outbox::EnqueueLeased), and once it committed the item
// goes straight to the pump's queue, as if claimed. When the pump had no room for another item
// (OutboxPumpOptions::in_hand), or is not running, the item is added pending and the pump told
// (Notify), to claim it as before. A crash between the commit and the delivery leaves a lease
// that ends, as after a claim.
//
// Use: take the handoff before submitting the write; call Enqueue inside the write in place of
// Outbox::Enqueue; call Settle once the write is over, with its outcome, on the committer's
// completion (not later: the item's lease runs from the write, and is renewed only once the pump
// holds it).
//
// Thread-safety: Enqueue and Settle may run on different threads, one after the other (the
// write, then its completion); a handoff is for one write.
class OutboxHandoff {
 public:
  // A handoff without a pump: Enqueue adds a pending item, and Settle calls `notify` (if any)
  // after a commit that added one.
  OutboxHandoff(const Outbox& outbox, std::function<void()> notify);
  ~OutboxHandoff();  // Settle(an error), if not settled
  OutboxHandoff(const OutboxHandoff&) = delete;
  OutboxHandoff& operator=(const OutboxHandoff&) = delete;

  // Inside the write, in place of Outbox::Enqueue (the same errors; the item is due now): added
  // leased by the pump when it reserved room for it, else pending. One item per handoff: a write
  // run again replaces what its first run added (that transaction was rolled back).
  Status Enqueue(Transaction& tx, std::string_view topic, std::string_view dedupe_key,
                 const Bytes& payload);
  // The write is over: when it committed, a leased item goes to the pump's queue and a pending
  // one is announced (Notify); the room reserved for an item not handed over (a failed write, a
  // write that added nothing) is given back. Once; later calls do nothing.
  void Settle(const Status& committed);
  // Whether the pump reserved room for the item (it goes without a claim if the write commits).
  bool reserved() const { return reserved_; }

 private:
  friend class OutboxPump;
  OutboxHandoff(const Outbox& outbox, std::shared_ptr<OutboxPumpLink> link, std::string source,
                std::string owner);

  const Outbox& outbox_;
  std::function<void()> notify_;          // without a pump
  std::shared_ptr<OutboxPumpLink> link_;  // with one
  std::string source_;
  std::string owner_;
  bool reserved_ = false;
  std::optional<OutboxItem> leased_;  // added leased by the pump
  bool pending_ = false;              // added pending
  bool settled_ = false;
};

struct OutboxPumpOptions {
  // The topics to deliver; each by the outbox's Policy(topic).
  std::vector<std::string> topics;
  // Names this process's leases: "<instance>:<random boot id>". Start() releases, in every
  // source, the leases of owners starting with "<instance>:" (this process's previous run).
  std::string instance = "pump";
  // Prefix of the log events: "<log_prefix>.delivery_failed" and so on.
  std::string log_prefix = "outbox";
  int threads = 4;
  // Items per Deliver call at most (1 = one at a time), and Deliver calls in flight per lane.
  int batch_items = 64;
  int peer_requests = 2;
  size_t batch_bytes = 8 << 20;
  // Claimed items one source may have waiting or in flight in the pump, at most (a claimed
  // item's lease runs meanwhile, and its payload is in memory); all sources together may have
  // 4 · in_hand. 0: max(2 · threads, 4 · batch_items).
  size_t in_hand = 0;
  // RunOnce: how long it waits for the claims and renewals it started to come back before it
  // delivers what is queued (a source whose write is slower is left for the next RunOnce).
  std::chrono::milliseconds run_once_wait{30000};
};

class OutboxPump {
 public:
  struct Stats {
    int64_t claimed = 0;
    int64_t delivered = 0;  // kDone, acknowledged
    int64_t retried = 0;    // kRetry, pending again after the backoff
    int64_t dead = 0;       // kGiveUp, or kRetry after the topic's max_attempts
    int64_t recorded = 0;   // kRecorded by the courier
    int64_t deferred = 0;   // kBusy, pending again after the receiver's Retry-After
    int64_t paused = 0;     // lanes paused for a busy answer (below)
    int64_t lost = 0;       // outcomes not recorded: the lease had passed to another claimer
    int64_t renewed = 0;    // leases renewed
    int64_t rounds = 0;     // dispatcher rounds (claims over every due topic and source)
    int64_t claims = 0;     // claims made (one per source and topic a round looked at)
    int64_t quiet = 0;      // claims a round skipped: the source and topic were quiet (below)
    // Workers woken that found nothing to take and waited again (a wake-up for nothing costs
    // two context switches; one batch wakes one worker, which wakes the next if more is ready).
    int64_t idle_wakes = 0;
    int64_t handed = 0;  // items handed over by the writes that added them, without a claim
  };

  // `outbox`, `courier` and `clock` must outlive the pump. kInvalidArgument for no topics, an
  // empty instance, or threads, batch_items or peer_requests below 1.
  static Result<std::unique_ptr<OutboxPump>> Create(const Outbox& outbox, OutboxCourier& courier,
                                                    OutboxPumpOptions options,
                                                    const Clock& clock = SystemClock::Get());
  ~OutboxPump();  // Stop()
  OutboxPump(const OutboxPump&) = delete;
  OutboxPump& operator=(const OutboxPump&) = delete;

  // Releases this instance's stale leases in every source (a source whose write fails is logged
  // and skipped), then starts the dispatcher and the workers. Errors: those of Sources(), and
  // kFailedPrecondition when started before (nothing started then).
  Status Start() EXCLUDES(mu_);
  // New work was committed: every topic is due at once.
  void Notify() EXCLUDES(mu_);
  // Stops claiming and taking batches, calls OutboxCourier::OnStop, waits for the deliveries in
  // hand to finish and be recorded, joins the threads, and releases the leases of the items
  // still waiting (claimable again at once). Idempotent; blocks.
  void Stop() EXCLUDES(mu_);

  // One dispatcher round and every delivery it led to, on the calling thread: renews due
  // leases, claims what is due (as the dispatcher would now), delivers and records it. Returns
  // the number of items handed to the courier. It waits up to `run_once_wait` for its claims to
  // come back. For tests and tools; not while started.
  int64_t RunOnce() EXCLUDES(mu_);
  // Renews the leases of held items whose lease is half gone; returns how many were renewed.
  // The dispatcher calls it at each wake.
  int64_t RenewLeases() EXCLUDES(mu_);

  // A handoff of one item the caller's write will add to `source` (OutboxHandoff): with room
  // reserved for it in the pump when the pump is running and `source` holds fewer than
  // `in_hand` items (all sources fewer than 4 · in_hand), not counting what claims in flight
  // reserved, else a handoff that adds the item pending and calls Notify.
  std::shared_ptr<OutboxHandoff> HandOff(const std::string& source) EXCLUDES(mu_);

  Stats stats() const EXCLUDES(mu_);
  // The lease owner, "<instance>:<boot id>".
  const std::string& owner() const { return owner_; }

 private:
  friend class OutboxHandoff;  // Offer, Unreserve
  struct Job {
    std::string source;
    OutboxItem item;
  };
  struct Held {
    std::string topic;
    TimePoint lease_until;
    TimePoint renew_at;  // when RenewLeases extends it
  };
  using Key = std::pair<std::string, int64_t>;  // source, item id

  OutboxPump(const Outbox& outbox, OutboxCourier& courier, OutboxPumpOptions options,
             const Clock& clock);
  void Dispatch() EXCLUDES(mu_);
  void Work() EXCLUDES(mu_);
  // The topics to claim now (and forgets the wake-ups that made them due).
  std::vector<std::string> DueTopics() REQUIRES(mu_);
  // How long the dispatcher may sleep: until the next poll or lease renewal.
  Duration UntilNextRound() const REQUIRES(mu_);
  // How many more items `source` may have in the pump (in_hand), within the room of all sources;
  // without `count_claims` (a handoff's room), leaving out what claims in flight reserved.
  size_t Room(const std::string& source, bool count_claims = true) REQUIRES(mu_);
  // Claims the due topics from every source into the queue (each claim's items are queued when
  // its write comes back: Claimed).
  void Round(const std::vector<std::string>& topics) EXCLUDES(mu_);
  // What a claim brought back: its items and, when it found none while its source held
  // nothing, when the topic's next item may be due (Outbox::NextDue).
  struct ClaimResult {
    std::vector<OutboxItem> items;
    bool looked_ahead = false;
    std::optional<TimePoint> next_due;
  };
  // A claim of `reserved` items of `topic` from `source`, made at wake-up generation `wakeups`,
  // came back with `got`.
  void Claimed(const std::string& source, const std::string& topic, size_t reserved,
               uint64_t wakeups, const Status& s, ClaimResult got) EXCLUDES(mu_);
  // `source` holds nothing now, or outcomes of its items were recorded: its pairs quiet until
  // then (Quiet::until_idle) are polled again.
  void WakeQuietPairs(const std::string& source) REQUIRES(mu_);
  // One of the dispatcher's writes came back (Claimed, a renewal).
  void WriteBack() REQUIRES(mu_);
  // Resumes the lanes whose pause is over; returns how long until the next pause ends, or
  // nullopt when no lane is paused.
  std::optional<Duration> ResumeLanes() REQUIRES(mu_);
  // Delivers one batch, frees its lane, and records its outcomes.
  void DeliverBatch(LaneBatcher<Job>::Batch& batch) EXCLUDES(mu_);
  // A handoff's item committed, leased by this pump: queued as if claimed (its room was
  // reserved by HandOff).
  void Offer(const std::string& source, OutboxItem item) EXCLUDES(mu_);
  // A handoff's reserved room is not needed: given back.
  void Unreserve(const std::string& source) EXCLUDES(mu_);
  // Room freed in `source`: what waited for it goes on. (Quiet pairs, starved topics.)
  void RoomFreed(const std::string& source) REQUIRES(mu_);

  const Outbox& outbox_;
  OutboxCourier& courier_;
  const OutboxPumpOptions options_;
  const Clock& clock_;
  const std::string owner_;
  const size_t in_hand_;
  // Handoffs reach the pump through it until Stop cuts it.
  const std::shared_ptr<OutboxPumpLink> link_;

  mutable Mutex mu_;
  CondVar dispatch_cv_;  // the dispatcher: wake-ups, room, stop
  CondVar work_cv_;      // the workers: batches, stop
  LaneBatcher<Job> queue_ GUARDED_BY(mu_);
  std::map<Key, Held> held_ GUARDED_BY(mu_);  // claimed, not yet recorded
  // Per source: items held, and items reserved by its claims in flight and its handoffs.
  std::map<std::string, size_t> held_per_source_ GUARDED_BY(mu_);
  size_t reserved_ GUARDED_BY(mu_) = 0;  // all sources' claims in flight and handoffs, reserved
  // Of those, what the claims in flight reserved (per source, and in all).
  std::map<std::string, size_t> claims_reserved_per_source_ GUARDED_BY(mu_);
  size_t claims_reserved_ GUARDED_BY(mu_) = 0;
  std::set<std::pair<std::string, std::string>> claiming_ GUARDED_BY(mu_);  // source, topic
  // Claims a round skipped because the last was still out: made once that one comes back (the
  // wake-up that made the round is not lost).
  std::set<std::pair<std::string, std::string>> claim_again_ GUARDED_BY(mu_);
  std::set<std::string> renewing_ GUARDED_BY(mu_);                 // sources
  std::map<std::string, TimePoint> paused_until_ GUARDED_BY(mu_);  // lanes of busy receivers
  int writes_in_flight_ GUARDED_BY(mu_) = 0;  // the dispatcher's claims and renewals
  CondVar writes_cv_;                         // writes_in_flight_ fell to 0
  std::map<std::string, std::chrono::steady_clock::time_point> next_poll_ GUARDED_BY(mu_);
  std::set<std::string> more_ GUARDED_BY(mu_);     // topics whose last claim filled its batch
  std::set<std::string> starved_ GUARDED_BY(mu_);  // topics a source had no room for
  bool notified_ GUARDED_BY(mu_) = false;
  // Quiet pairs: a source and topic whose claim found nothing while the source held nothing are
  // not claimed from again until their next item is due (Outbox::NextDue) or, at the latest,
  // 2 s later (one poll interval when that is longer) — an idle tenant costs no write every poll.
  // Notify() ends every quiet; `wakeups_` counts the Notify calls, so that a claim that was out
  // during one does not make its pair quiet with the news it missed. A claim that found nothing
  // while its source held items (of any topic) cannot cheaply ask when the next item is due (the
  // walk would cross what is held and its backlog): its pair is quiet only until the source holds
  // nothing again or records an outcome (`until_idle`), when the next poll looks again.
  struct Quiet {
    std::chrono::steady_clock::time_point until;
    bool until_idle = false;
  };
  std::map<std::pair<std::string, std::string>, Quiet> quiet_until_ GUARDED_BY(mu_);
  uint64_t wakeups_ GUARDED_BY(mu_) = 0;
  bool started_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  Stats stats_ GUARDED_BY(mu_);
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_OUTBOX_PUMP_H_
