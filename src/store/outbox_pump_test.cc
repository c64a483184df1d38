#include "store/outbox_pump.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "common/mutex.h"
#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;

// A delivery the fake courier saw.
struct Call {
  std::string source;
  std::string owner;
  std::vector<std::string> keys;
  std::vector<int> attempts;
  std::vector<TimePoint> lease_until;
};

// Writes run at once in a transaction of the source's database; deliveries are answered by
// `deliver` (default: all done). The lane is the payload up to its first '|'.
class FakeCourier : public OutboxCourier {
 public:
  using DeliverFn = std::function<std::vector<Delivery>(
      const std::string& source, const std::vector<OutboxItem>& items, const std::string& owner)>;

  std::map<std::string, std::shared_ptr<Database>> dbs;
  std::set<std::string> broken;  // sources whose every write fails
  DeliverFn deliver;
  std::function<void()> on_stop;
  std::function<void()> before_write;  // called by Submit before the write runs

  Result<std::vector<std::string>> Sources() override {
    std::vector<std::string> names;
    for (const auto& [name, db] : dbs) names.push_back(name);
    for (const std::string& name : broken) names.push_back(name);
    return names;
  }

  std::future<Status> Submit(const std::string& source, WriteFn write) override {
    if (before_write) before_write();
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> f = done->get_future();
    SubmitAsync(source, std::move(write), [done](Status s) { done->set_value(std::move(s)); });
    return f;
  }

  // A stalled source's writes wait (as behind a long import holding its database's writer)
  // until Unstall runs them; the others run at once.
  void SubmitAsync(const std::string& source, WriteFn write, DoneFn done) override {
    {
      MutexLock lock(mu_);
      if (stalled_.count(source) > 0) {
        stalled_[source].emplace_back(std::move(write), std::move(done));
        return;
      }
    }
    Status s = Run(source, write);
    {
      MutexLock lock(mu_);
      if (late_.count(source) > 0) {
        late_[source].emplace_back(std::move(s), std::move(done));
        return;
      }
    }
    done(std::move(s));
  }

  // A late source's writes run at once, but come back only at Unstall (a committer that has
  // not yet told of a commit).
  void Late(const std::string& source) {
    MutexLock lock(mu_);
    late_[source];
  }

  void Stall(const std::string& source) {
    MutexLock lock(mu_);
    stalled_[source];
  }
  size_t StalledWrites(const std::string& source) {
    MutexLock lock(mu_);
    auto it = stalled_.find(source);
    return it == stalled_.end() ? 0 : it->second.size();
  }
  // Runs the source's waiting writes, in order, on the calling thread.
  void Unstall(const std::string& source) {
    std::vector<std::pair<WriteFn, DoneFn>> writes;
    std::vector<std::pair<Status, DoneFn>> written;
    {
      MutexLock lock(mu_);
      if (auto it = stalled_.find(source); it != stalled_.end()) {
        writes = std::move(it->second);
        stalled_.erase(it);
      }
      if (auto it = late_.find(source); it != late_.end()) {
        written = std::move(it->second);
        late_.erase(it);
      }
    }
    for (auto& [s, done] : written) done(std::move(s));
    for (auto& [write, done] : writes) done(Run(source, write));
  }

  std::string Lane(const OutboxItem& item) override {
    const std::string p(item.payload.begin(), item.payload.end());
    return p.substr(0, p.find('|'));
  }

  std::vector<Delivery> Deliver(const std::string& source, const std::vector<OutboxItem>& items,
                                const std::string& owner) override {
    Call call{source, owner, {}, {}, {}};
    for (const OutboxItem& item : items) {
      call.keys.push_back(item.dedupe_key);
      call.attempts.push_back(item.attempts);
      call.lease_until.push_back(item.lease_until);
    }
    {
      MutexLock lock(mu_);
      calls_.push_back(call);
    }
    if (deliver) return deliver(source, items, owner);
    return std::vector<Delivery>(items.size(), Delivery{DeliveryOutcome::kDone, ""});
  }

  void OnStop() override {
    if (on_stop) on_stop();
  }

  std::vector<Call> calls() {
    MutexLock lock(mu_);
    return calls_;
  }

 private:
  Status Run(const std::string& source, const WriteFn& write) {
    if (broken.count(source) > 0) return UnavailableError("database " + source + " is down");
    auto it = dbs.find(source);
    if (it == dbs.end()) return NotFoundError("no source " + source);
    ASSIGN_OR_RETURN(auto tx, it->second->Begin());
    RETURN_IF_ERROR(write(*tx));
    return tx->Commit();
  }

  Mutex mu_;
  std::vector<Call> calls_ GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::pair<WriteFn, DoneFn>>> stalled_ GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::pair<Status, DoneFn>>> late_ GUARDED_BY(mu_);
};

std::vector<Delivery> All(size_t n, DeliveryOutcome outcome, const std::string& error = "") {
  return std::vector<Delivery>(n, Delivery{outcome, error});
}

// A one-shot gate a delivery waits at.
struct Gate {
  std::promise<void> entered;
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
  std::once_flag entered_once;
  std::once_flag open_once;
  void Enter() {
    std::call_once(entered_once, [&] { entered.set_value(); });
    opened.wait();
  }
  void Open() {
    std::call_once(open_once, [&] { open.set_value(); });
  }
};

class OutboxPumpTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = OutboxDatabase("a");
    ASSERT_NE(db_, nullptr);
    courier_.dbs["a"] = db_;
    MakeOutbox({});
  }

  void MakeOutbox(std::map<std::string, DeliveryPolicy, std::less<>> topics) {
    OutboxOptions o;
    o.max_attempts = 5;
    o.backoff_base = seconds(1);
    o.backoff_cap = seconds(8);
    o.jitter = 0;
    o.topics = std::move(topics);
    auto outbox = Outbox::Create(o, clock_);
    ASSERT_OK(outbox);
    outbox_ = std::move(*outbox);
  }

  // A database of its own with the outbox tables, as one tenant's.
  std::shared_ptr<Database> OutboxDatabase(const std::string& name) {
    StoreOptions o = Options();
    o.data_dir = dir().File("data-" + name);
    o.pg_prefix = o.pg_prefix + "_" + name;
    TenantStore* s = OpenStore(o);
    if (s == nullptr) return nullptr;
    auto db = s->Platform();
    EXPECT_OK(db);
    if (!db.ok()) return nullptr;
    EXPECT_OK(ApplyMigrations(**db, "outbox", OutboxMigrations()));
    return *db;
  }

  // Another source: a database of its own, which the courier writes to as `name`.
  std::shared_ptr<Database> AddSource(const std::string& name) {
    std::shared_ptr<Database> db = OutboxDatabase(name);
    if (db != nullptr) courier_.dbs[name] = db;
    return db;
  }

  std::unique_ptr<OutboxPump> Pump(OutboxPumpOptions o = {}) {
    if (o.topics.empty()) o.topics = {"t"};
    auto pump = OutboxPump::Create(*outbox_, courier_, o, clock_);
    EXPECT_OK(pump);
    return pump.ok() ? std::move(*pump) : nullptr;
  }

  // Starts `pump` and waits for its first round, whose claim (finding nothing) reserves room
  // while it is out: a HandOff made during it could find none (a slow build, TSan, did).
  void StartAndWaitForTheFirstRound(OutboxPump& pump) {
    ASSERT_OK(pump.Start());
    for (int i = 0; i < 3000 && pump.stats().rounds == 0; ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    ASSERT_EQ(pump.stats().rounds, 1);
  }

  // A pump whose leases are "<instance>:…".
  std::unique_ptr<OutboxPump> Named(const std::string& instance) {
    OutboxPumpOptions o;
    o.instance = instance;
    return Pump(o);
  }

  // A pump with `threads` workers that delivers one item at a time, one per lane.
  std::unique_ptr<OutboxPump> OneAtATime(int threads, size_t in_hand = 0) {
    OutboxPumpOptions o;
    o.threads = threads;
    o.in_hand = in_hand;
    o.batch_items = 1;
    o.peer_requests = 1;
    return Pump(o);
  }

  // Enqueues `key` (payload "<lane>|<key>") in `db`; returns its id.
  int64_t Enqueue(const std::string& key, const std::string& topic = "t",
                  const std::string& lane = "x", Database* db = nullptr) {
    Database& d = db ? *db : *db_;
    auto tx = d.Begin();
    EXPECT_OK(tx);
    EXPECT_OK(outbox_->Enqueue(**tx, topic, key, ToBytes(lane + "|" + key), clock_.Now()));
    EXPECT_OK((*tx)->Commit());
    auto rtx = d.BeginRead();
    auto row =
        (*rtx)->QueryOne("SELECT id FROM outbox WHERE topic = ? AND dedupe_key = ?", {topic, key});
    return row.ok() && *row ? (*row)->GetInt(0).value() : -1;
  }

  // Enqueues `key` in `lane` of `topic`, not due before `not_before`; returns its id.
  int64_t WriteItem(const std::string& key, TimePoint not_before, const std::string& lane = "x",
                    const std::string& topic = "t") {
    auto tx = db_->Begin();
    EXPECT_OK(tx);
    EXPECT_OK(outbox_->Enqueue(**tx, topic, key, ToBytes(lane + "|" + key), not_before));
    EXPECT_OK((*tx)->Commit());
    return IdOf(key);
  }

  // The id of the item with dedupe key `key` in the test's source, or -1.
  int64_t IdOf(const std::string& key) {
    auto rtx = db_->BeginRead();
    auto row = (*rtx)->QueryOne("SELECT id FROM outbox WHERE dedupe_key = ?", {key});
    return row.ok() && *row ? (*row)->GetInt(0).value() : -1;
  }

  OutboxItem Get(int64_t id, Database* db = nullptr) {
    auto item = outbox_->Get(db ? *db : *db_, id);
    EXPECT_OK(item);
    return item.ok() ? *item : OutboxItem{};
  }

  FakeClock clock_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<Outbox> outbox_;
  FakeCourier courier_;
};

TEST_P(OutboxPumpTest, DeliversAcknowledgesAndBatchesByLane) {
  const int64_t k1 = Enqueue("k1", "t", "x");
  const int64_t k2 = Enqueue("k2", "t", "x");
  const int64_t k3 = Enqueue("k3", "t", "y");
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  EXPECT_EQ(pump->RunOnce(), 3);
  const std::vector<Call> calls = courier_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].source, "a");
  EXPECT_EQ(calls[0].owner, pump->owner());
  EXPECT_EQ(pump->owner().substr(0, 5), "pump:");
  EXPECT_THAT(calls[0].keys, ElementsAre("k1", "k2"));  // one lane, one call
  EXPECT_THAT(calls[0].attempts, ElementsAre(1, 1));
  EXPECT_THAT(calls[0].lease_until,
              ElementsAre(clock_.Now() + seconds(60), clock_.Now() + seconds(60)));
  EXPECT_THAT(calls[1].keys, ElementsAre("k3"));
  for (int64_t id : {k1, k2, k3}) {
    const OutboxItem item = Get(id);
    EXPECT_EQ(item.state, OutboxState::kDone);
    EXPECT_TRUE(item.payload.empty());
  }
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.claimed, 3);
  EXPECT_EQ(st.delivered, 3);
  EXPECT_EQ(st.retried, 0);
  EXPECT_EQ(st.rounds, 1);
  EXPECT_EQ(pump->RunOnce(), 0);  // nothing due, and the poll interval has not passed
  EXPECT_EQ(pump->stats().rounds, 1);
}

TEST_P(OutboxPumpTest, RetriesAfterTheBackoffThenGivesUpAfterMaxAttempts) {
  DeliveryPolicy p;
  p.poll_interval = milliseconds(1);  // the backoff, not the poll, decides here
  p.max_attempts = 3;
  p.backoff_base = seconds(1);
  p.backoff_cap = seconds(2);
  MakeOutbox({{"t", p}});
  const int64_t id = Enqueue("k");
  courier_.deliver = [](const std::string&, const std::vector<OutboxItem>& items,
                        const std::string&) {
    return All(items.size(), DeliveryOutcome::kRetry, "HTTP 503");
  };
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  const TimePoint t0 = clock_.Now();
  EXPECT_EQ(pump->RunOnce(), 1);
  OutboxItem item = Get(id);
  EXPECT_EQ(item.state, OutboxState::kPending);
  EXPECT_EQ(item.attempts, 1);
  EXPECT_EQ(item.not_before, t0 + seconds(1));
  EXPECT_EQ(item.last_error, "HTTP 503");

  clock_.Advance(milliseconds(999));
  EXPECT_EQ(pump->RunOnce(), 0);  // polled, but not due yet
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(pump->RunOnce(), 1);
  item = Get(id);
  EXPECT_EQ(item.attempts, 2);
  EXPECT_EQ(item.not_before, t0 + seconds(1) + seconds(2));  // doubled

  clock_.Advance(seconds(2));
  EXPECT_EQ(pump->RunOnce(), 1);
  item = Get(id);
  EXPECT_EQ(item.state, OutboxState::kDead);
  EXPECT_EQ(item.attempts, 3);
  EXPECT_EQ(item.last_error, "HTTP 503");
  clock_.Advance(hours(1));
  EXPECT_EQ(pump->RunOnce(), 0);  // never claimed again
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.retried, 2);
  EXPECT_EQ(st.dead, 1);
  EXPECT_EQ(st.delivered, 0);
  EXPECT_EQ(courier_.calls().size(), 3u);
}

TEST_P(OutboxPumpTest, ABusyReceiverIsTriedAgainAfterItsRetryAfterAndTheItemIsNeverDead) {
  DeliveryPolicy p;
  p.poll_interval = milliseconds(1);
  p.max_attempts = 3;
  p.backoff_base = seconds(1);
  p.backoff_cap = seconds(2);
  MakeOutbox({{"t", p}});
  const int64_t id = Enqueue("k");
  int busy_answers = 10;  // more than max_attempts
  courier_.deliver = [&busy_answers](const std::string&, const std::vector<OutboxItem>& items,
                                     const std::string&) {
    if (busy_answers == 0) return All(items.size(), DeliveryOutcome::kDone);
    --busy_answers;
    std::vector<Delivery> busy(items.size(), Delivery{DeliveryOutcome::kBusy, "HTTP 503"});
    for (Delivery& d : busy) d.retry_after = seconds(4);
    return busy;
  };
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  for (int answer = 1; answer <= 10; ++answer) {
    const TimePoint sent = clock_.Now();
    ASSERT_EQ(pump->RunOnce(), 1) << "busy answer " << answer;
    const OutboxItem item = Get(id);
    EXPECT_EQ(item.state, OutboxState::kPending);
    EXPECT_EQ(item.attempts, 0);                    // the busy answers count for nothing
    EXPECT_EQ(item.not_before, sent + seconds(4));  // Retry-After, not the 1 s backoff
    clock_.Advance(seconds(4) - milliseconds(1));
    EXPECT_EQ(pump->RunOnce(), 0) << "sent again before Retry-After, answer " << answer;
    clock_.Advance(milliseconds(1));
  }
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(Get(id).state, OutboxState::kDone);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.deferred, 10);
  EXPECT_EQ(st.retried, 0);
  EXPECT_EQ(st.dead, 0);
  EXPECT_EQ(st.delivered, 1);
}

// A lane whose receiver answered busy rests 100 ms: the items of that lane claimed meanwhile wait
// in the pump instead of each being sent and turned away, another lane goes on, and the busy
// item itself waits its Retry-After.
TEST_P(OutboxPumpTest, ABusyAnswerRestsItsLaneWhileOtherLanesGoOn) {
  DeliveryPolicy p;
  p.poll_interval = milliseconds(1);
  MakeOutbox({{"t", p}});
  const int64_t a1 = Enqueue("a1", "t", "A");
  int busy_answers = 1;
  courier_.deliver = [&busy_answers](const std::string&, const std::vector<OutboxItem>& items,
                                     const std::string&) {
    const std::string lane(items[0].payload.begin(), items[0].payload.begin() + 1);
    if (lane != "A" || busy_answers == 0) return All(items.size(), DeliveryOutcome::kDone);
    --busy_answers;
    std::vector<Delivery> busy(items.size(), Delivery{DeliveryOutcome::kBusy, "HTTP 503"});
    for (Delivery& d : busy) d.retry_after = seconds(5);
    return busy;
  };
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  ASSERT_EQ(pump->RunOnce(), 1);  // a1: busy
  EXPECT_EQ(pump->stats().paused, 1);
  const int64_t a2 = Enqueue("a2", "t", "A");
  const int64_t b1 = Enqueue("b1", "t", "B");
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(pump->RunOnce(), 1);  // b1 only; a2 is claimed and waits
  EXPECT_EQ(Get(b1).state, OutboxState::kDone);
  EXPECT_EQ(Get(a2).state, OutboxState::kLeased);
  auto sent_to_a = [&] {
    int n = 0;
    for (const auto& call : courier_.calls()) {
      for (const std::string& key : call.keys) n += key[0] == 'a' ? 1 : 0;
    }
    return n;
  };
  EXPECT_EQ(sent_to_a(), 1);
  clock_.Advance(milliseconds(98));
  EXPECT_EQ(pump->RunOnce(), 0);  // still resting (99 ms of 100)
  EXPECT_EQ(sent_to_a(), 1);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(pump->RunOnce(), 1);  // a2 goes; a1 waits its Retry-After
  EXPECT_EQ(Get(a2).state, OutboxState::kDone);
  EXPECT_EQ(Get(a1).state, OutboxState::kPending);
  clock_.Advance(seconds(5) - milliseconds(100));
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(Get(a1).state, OutboxState::kDone);
  EXPECT_EQ(sent_to_a(), 3);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.deferred, 1);
  EXPECT_EQ(st.delivered, 3);
  EXPECT_EQ(st.paused, 1);
}

// Stop() while a lane rests: the workers waiting out the rest wake and return, and the item
// claimed for the resting lane is released (claimable again at once), not left leased.
TEST_P(OutboxPumpTest, StopWhileALaneRestsReturnsAndReleasesWhatWaited) {
  std::atomic<int> busy_answers{0};
  std::promise<void> answered_busy;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string&) {
    if (busy_answers++ == 0) answered_busy.set_value();
    std::vector<Delivery> busy(items.size(), Delivery{DeliveryOutcome::kBusy, "HTTP 503"});
    for (Delivery& d : busy) d.retry_after = seconds(5);
    return busy;
  };
  const int64_t a1 = Enqueue("a1", "t", "A");
  OutboxPumpOptions o;
  o.threads = 2;
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  ASSERT_OK(pump->Start());
  ASSERT_EQ(answered_busy.get_future().wait_for(seconds(20)), std::future_status::ready);
  // The fake clock stands still: the lane rests until Stop.
  WriteItem("a2", clock_.Now(), "A");
  pump->Notify();
  const auto claimed = std::chrono::steady_clock::now() + seconds(20);
  while (pump->stats().claimed < 2 && std::chrono::steady_clock::now() < claimed) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(pump->stats().claimed, 2);
  auto stopped = std::async(std::launch::async, [&] { pump->Stop(); });
  ASSERT_EQ(stopped.wait_for(seconds(20)), std::future_status::ready)
      << "Stop() waited for the resting lane";
  EXPECT_EQ(busy_answers.load(), 1);  // a2 was never sent to the resting lane
  EXPECT_EQ(Get(IdOf("a2")).state, OutboxState::kPending);
  EXPECT_EQ(Get(a1).state, OutboxState::kPending);  // deferred by its busy answer
  // Released: another claimer has a2 at once (a1 waits out its Retry-After).
  auto other = outbox_->Claim(*db_, "other:1", 5, seconds(1), "t");
  ASSERT_OK(other);
  ASSERT_EQ(other->size(), 1u);
  EXPECT_EQ((*other)[0].dedupe_key, "a2");
}

TEST_P(OutboxPumpTest, APermanentFailureIsDeadAtOnceAndRecordedOutcomesAreLeftAlone) {
  const int64_t bad = Enqueue("bad", "t", "x");
  const int64_t own = Enqueue("own", "t", "y");
  const Outbox& outbox = *outbox_;
  std::shared_ptr<Database> db = db_;
  courier_.deliver = [&outbox, db](const std::string&, const std::vector<OutboxItem>& items,
                                   const std::string& owner) {
    if (items[0].dedupe_key == "bad") return All(1, DeliveryOutcome::kGiveUp, "malformed item");
    // The courier records this one itself, as the server's sender does.
    EXPECT_OK(outbox.Ack(*db, items[0].id, owner));
    return All(1, DeliveryOutcome::kRecorded);
  };
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  EXPECT_EQ(pump->RunOnce(), 2);
  const OutboxItem dead = Get(bad);
  EXPECT_EQ(dead.state, OutboxState::kDead);
  EXPECT_EQ(dead.attempts, 1);  // of 5
  EXPECT_EQ(dead.last_error, "malformed item");
  EXPECT_EQ(Get(own).state, OutboxState::kDone);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.dead, 1);
  EXPECT_EQ(st.recorded, 1);
  EXPECT_EQ(st.lost, 0);  // the pump did not try to acknowledge the recorded one again
}

TEST_P(OutboxPumpTest, PollsAtTheTopicsIntervalAndNotifyMakesEveryTopicDue) {
  DeliveryPolicy p;
  p.poll_interval = milliseconds(500);
  MakeOutbox({{"t", p}});
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  Enqueue("a");
  Enqueue("b");
  EXPECT_EQ(pump->RunOnce(), 2);  // the first poll
  // An item that is not due for 1.2 s: polls every 500 ms look at nothing else.
  WriteItem("c", clock_.Now() + milliseconds(1200));
  EXPECT_EQ(pump->RunOnce(), 0);  // not due yet: no round
  clock_.Advance(milliseconds(499));
  EXPECT_EQ(pump->RunOnce(), 0);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(pump->RunOnce(), 0);  // the next poll, 500 ms after the first: c is not due
  EXPECT_EQ(pump->stats().rounds, 2);
  Enqueue("d");
  pump->Notify();
  EXPECT_EQ(pump->RunOnce(), 1);  // at once
  EXPECT_EQ(pump->stats().rounds, 3);
}

// The defect: every pump wrote a claim to every tenant's database for every topic each poll
// (200 ms), whether anything was there or not — 15–21 M instructions in a 5 s idle window of
// `chukan bench icount`, and a write per tenant and topic five times a second on a server with
// many tenants. A source and topic whose claim found nothing while it held nothing are now quiet:
// not claimed from again for 2 s (ten default polls), or until their next item is due, or a
// Notify.
TEST_P(OutboxPumpTest, AnIdleSourceIsQuietForTwoSecondsUnlessNotified) {
  DeliveryPolicy p;
  p.poll_interval = milliseconds(200);
  MakeOutbox({{"t", p}});
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  EXPECT_EQ(pump->RunOnce(), 0);  // found nothing, holds nothing: quiet for 2 s
  OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.claims, 1);
  EXPECT_EQ(st.quiet, 0);
  Enqueue("a");  // queued by someone who does not tell this pump (another node)
  for (int i = 1; i < 10; ++i) {
    clock_.Advance(milliseconds(200));
    EXPECT_EQ(pump->RunOnce(), 0) << "poll " << i;
  }
  st = pump->stats();
  EXPECT_EQ(st.rounds, 10);
  EXPECT_EQ(st.claims, 1);  // nine polls, no claim
  EXPECT_EQ(st.quiet, 9);
  clock_.Advance(milliseconds(200));  // 2 s after the empty claim
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(pump->stats().claims, 2);
  // Quiet again (nothing more, nothing held); a Notify ends it at once.
  clock_.Advance(milliseconds(200));
  EXPECT_EQ(pump->RunOnce(), 0);
  Enqueue("b");
  clock_.Advance(milliseconds(200));
  EXPECT_EQ(pump->RunOnce(), 0);
  pump->Notify();
  EXPECT_EQ(pump->RunOnce(), 1);
}

// A long poll interval is not stretched: the quiet lasts one interval when that is longer than
// 2 s. Before, a quiet lasted ten intervals: with `poll_interval_ms` at its 1 h maximum, what
// another node queued waited 10 h.
TEST_P(OutboxPumpTest, AQuietPairWithALongPollIntervalIsPolledEveryInterval) {
  DeliveryPolicy p;
  p.poll_interval = std::chrono::hours(1);
  MakeOutbox({{"t", p}});
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  EXPECT_EQ(pump->RunOnce(), 0);  // found nothing, holds nothing: quiet for 1 h
  Enqueue("a");                   // by another node
  clock_.Advance(std::chrono::minutes(59));
  EXPECT_EQ(pump->RunOnce(), 0);  // the next poll is not due yet
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(pump->RunOnce(), 1);  // the poll one interval after the empty claim is not skipped
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.claims, 2);
  EXPECT_EQ(st.quiet, 0);
}

// Quiet lasts until the next item is due, not longer: an item waiting out its backoff is
// claimed when due, and so is one whose lease another claimer let run out.
TEST_P(OutboxPumpTest, AQuietSourceIsClaimedFromWhenItsNextItemIsDue) {
  DeliveryPolicy p;
  p.poll_interval = milliseconds(500);
  MakeOutbox({{"t", p}});
  auto pump = Pump();
  ASSERT_NE(pump, nullptr);
  const int64_t later = WriteItem("later", clock_.Now() + milliseconds(1200));
  EXPECT_EQ(pump->RunOnce(), 0);  // quiet until 1.2 s, not 2 s
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(pump->RunOnce(), 0);
  EXPECT_EQ(pump->stats().quiet, 1);
  clock_.Advance(milliseconds(200));
  EXPECT_EQ(pump->RunOnce(), 0);  // due, and the quiet over, but the next poll is at 1.5 s
  clock_.Advance(milliseconds(300));
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(Get(later).state, OutboxState::kDone);

  // Another claimer holds an item for 2 s and is not heard from again.
  const int64_t held = Enqueue("held");
  auto other = outbox_->Claim(*db_, "other:1", 1, seconds(2), "t");
  ASSERT_OK(other);
  ASSERT_EQ(other->size(), 1u);
  clock_.Advance(milliseconds(500));
  EXPECT_EQ(pump->RunOnce(), 0);  // quiet until the other's lease runs out
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(pump->RunOnce(), 0);
  clock_.Advance(milliseconds(500));  // the lease is out
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(Get(held).state, OutboxState::kDone);
  EXPECT_EQ(pump->stats().quiet, 2);
}

// A claim that finds nothing while its source holds items of another topic does not ask when
// its next item is due (that walk would cross them): its pair is quiet until the source holds
// nothing, then the next poll asks. (Before, such pairs were polled every interval for as long
// as the source was busy, which the idle windows of `chukan bench icount` did not match.)
TEST_P(OutboxPumpTest, APairQuietWhileItsSourceHeldItemsIsPolledOnceThoseAreRecorded) {
  DeliveryPolicy p;
  p.poll_interval = milliseconds(500);
  MakeOutbox({{"t", p}, {"u", p}});
  OutboxPumpOptions o;
  o.topics = {"t", "u"};
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  Enqueue("a", "t");
  const int64_t later = WriteItem("later", clock_.Now() + milliseconds(700), "x", "u");
  // t's claim takes a; u's, made while a is held, finds nothing and asks nothing: quiet until a
  // is recorded, which this RunOnce does.
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(pump->stats().claims, 2);
  clock_.Advance(milliseconds(500));
  // u is polled again, holds nothing now, and learns that `later` is due at 700 ms; t has
  // nothing at all (quiet for 2 s).
  EXPECT_EQ(pump->RunOnce(), 0);
  EXPECT_EQ(pump->stats().claims, 4);
  clock_.Advance(milliseconds(500));
  EXPECT_EQ(pump->RunOnce(), 1);  // u: `later`, not 2 s after; t: quiet
  EXPECT_EQ(Get(later).state, OutboxState::kDone);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.claims, 5);
  EXPECT_EQ(st.quiet, 1);
}

// A claim that was out while a Notify came does not make its pair quiet: it looked before the
// news. (Without the wake-up count, the Notify would end no quiet — there was none yet — and the
// late claim would then silence the pair for 2 s with an item waiting.)
TEST_P(OutboxPumpTest, AClaimOutDuringANotifyLeavesItsSourceAwake) {
  OutboxPumpOptions o;
  o.run_once_wait = milliseconds(100);
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  courier_.Late("a");  // the claim runs, its answer waits
  EXPECT_EQ(pump->RunOnce(), 0);
  Enqueue("a1");
  pump->Notify();
  courier_.Unstall("a");  // the empty claim comes back after the Notify
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(pump->stats().quiet, 0);
}

TEST_P(OutboxPumpTest, ANotifyWakesTheStartedPumpWithoutWaitingForThePoll) {
  std::promise<void> got_a;
  std::promise<void> got_b;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string&) {
    (items[0].dedupe_key == "a" ? got_a : got_b).set_value();
    return All(items.size(), DeliveryOutcome::kDone);
  };
  Enqueue("a");
  OutboxPumpOptions o;
  o.threads = 2;
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  ASSERT_OK(pump->Start());
  // The first round claims "a"; the fake clock never moves, so no poll comes after it.
  ASSERT_EQ(got_a.get_future().wait_for(seconds(30)), std::future_status::ready);
  const int64_t b = Enqueue("b");
  pump->Notify();
  ASSERT_EQ(got_b.get_future().wait_for(seconds(30)), std::future_status::ready);
  pump->Stop();
  EXPECT_EQ(Get(b).state, OutboxState::kDone);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.rounds, 2);  // the first, and the one Notify asked for
  EXPECT_EQ(st.delivered, 2);
}

// One ready batch wakes one worker, not all of them: with eight idle workers, each of 30 items
// sent one after another used to wake all eight twice (the claim, then the lane's room freed),
// so seven woke for nothing each time — on the hub, the most context switches of any thread.
TEST_P(OutboxPumpTest, OneReadyBatchWakesOneWorkerNotAll) {
  constexpr int kItems = 30;
  std::vector<std::promise<void>> got(kItems);
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string&) {
    for (const OutboxItem& item : items) got[std::stoi(item.dedupe_key)].set_value();
    return All(items.size(), DeliveryOutcome::kDone);
  };
  OutboxPumpOptions o;
  o.threads = 8;
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  ASSERT_OK(pump->Start());
  for (int i = 0; i < kItems; ++i) {
    Enqueue(std::to_string(i));
    pump->Notify();
    ASSERT_EQ(got[i].get_future().wait_for(seconds(30)), std::future_status::ready) << i;
  }
  pump->Stop();
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.delivered, kItems);
  // Waking all of them gave 7 or more a batch (over 200 here). A few may still race: a worker
  // back from its delivery can take the batch that another was woken for.
  EXPECT_LE(st.idle_wakes, kItems / 3);
}

TEST_P(OutboxPumpTest, AnExpiredLeaseLetsAnotherClaimantTakeOver) {
  const int64_t id = Enqueue("k");
  Gate gate;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string& owner) {
    if (owner.rfind("first:", 0) == 0) gate.Enter();  // hangs until the test opens it
    return All(items.size(), DeliveryOutcome::kDone);
  };
  auto first = Named("first");
  auto second = Named("second");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  std::thread hung([&] { first->RunOnce(); });
  gate.entered.get_future().wait();
  clock_.Advance(seconds(59));
  EXPECT_EQ(second->RunOnce(), 0);  // still leased
  clock_.Advance(seconds(1));
  EXPECT_EQ(second->RunOnce(), 1);  // the lease ran out
  gate.Open();
  hung.join();
  const std::vector<Call> calls = courier_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(calls[1].attempts, ElementsAre(2));
  EXPECT_EQ(calls[1].owner, second->owner());
  EXPECT_EQ(Get(id).state, OutboxState::kDone);
  EXPECT_EQ(second->stats().delivered, 1);
  EXPECT_EQ(first->stats().delivered, 0);
  EXPECT_EQ(first->stats().lost, 1);  // its acknowledgement found the item taken over
}

TEST_P(OutboxPumpTest, LeasesOfHeldItemsAreRenewedAtHalfTheirLease) {
  const int64_t id = Enqueue("k");
  Gate gate;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string& owner) {
    if (owner.rfind("first:", 0) == 0) gate.Enter();
    return All(items.size(), DeliveryOutcome::kDone);
  };
  auto first = Named("first");
  auto second = Named("second");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  const TimePoint t0 = clock_.Now();
  std::thread delivering([&] { first->RunOnce(); });
  gate.entered.get_future().wait();
  clock_.Advance(seconds(29));
  EXPECT_EQ(first->RenewLeases(), 0);  // less than half of the 60 s gone
  clock_.Advance(seconds(1));
  EXPECT_EQ(first->RenewLeases(), 1);
  EXPECT_EQ(Get(id).lease_until, t0 + seconds(30) + seconds(60));
  clock_.Advance(seconds(59));  // past the first lease, within the renewed one
  EXPECT_EQ(second->RunOnce(), 0);
  gate.Open();
  delivering.join();
  EXPECT_EQ(Get(id).state, OutboxState::kDone);
  EXPECT_EQ(first->stats().delivered, 1);
  EXPECT_EQ(first->stats().renewed, 1);
  EXPECT_EQ(first->stats().lost, 0);
}

// A lane's slot is free once its delivery is answered, not once the outcome is durable: the next
// item for the same receiver goes while the first one's acknowledgement is still being written.
// (Holding the slot put a database commit into every cycle of a lane: on PostgreSQL the hub's
// one busy receiver waited for it.)
TEST_P(OutboxPumpTest, TheNextDeliveryOfALaneDoesNotWaitForTheLastOnesRecord) {
  const int64_t a = Enqueue("a");
  const int64_t b = Enqueue("b");
  Gate gate;
  // The first write on a thread that delivered (a worker's record, not a claim) waits.
  static thread_local bool delivered_here = false;
  std::atomic<bool> gated{false};
  courier_.deliver = [](const std::string&, const std::vector<OutboxItem>& items,
                        const std::string&) {
    delivered_here = true;
    return All(items.size(), DeliveryOutcome::kDone);
  };
  courier_.before_write = [&] {
    if (delivered_here && !gated.exchange(true)) gate.Enter();
  };
  auto pump = OneAtATime(2);  // one item per delivery, one delivery per lane in flight
  ASSERT_NE(pump, nullptr);
  ASSERT_OK(pump->Start());
  gate.entered.get_future().wait();  // "a" delivered; its record is held
  bool second_sent = false;
  for (int i = 0; i < 500 && !second_sent; ++i) {
    second_sent = courier_.calls().size() == 2;
    if (!second_sent) std::this_thread::sleep_for(milliseconds(10));
  }
  gate.Open();
  EXPECT_TRUE(second_sent) << "the lane stayed taken while the first item's record waited";
  for (int i = 0; i < 500 && Get(b).state != OutboxState::kDone; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  pump->Stop();
  EXPECT_EQ(Get(a).state, OutboxState::kDone);
  EXPECT_EQ(Get(b).state, OutboxState::kDone);
  EXPECT_EQ(pump->stats().delivered, 2);
}

TEST_P(OutboxPumpTest, StopLetsTheDeliveryInHandFinishAndReleasesTheRest) {
  const int64_t a = Enqueue("a");
  const int64_t b = Enqueue("b");
  Gate gate;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string&) {
    gate.Enter();
    return All(items.size(), DeliveryOutcome::kDone);
  };
  courier_.on_stop = [&] { gate.Open(); };
  auto pump = OneAtATime(1);
  ASSERT_NE(pump, nullptr);
  ASSERT_OK(pump->Start());
  gate.entered.get_future().wait();  // "a" is being delivered, "b" waits in its lane
  pump->Stop();
  EXPECT_EQ(courier_.calls().size(), 1u);
  EXPECT_EQ(Get(a).state, OutboxState::kDone);  // finished and recorded before Stop returned
  const OutboxItem rest = Get(b);
  EXPECT_EQ(rest.state, OutboxState::kPending);  // claimed, never sent: released
  EXPECT_EQ(rest.attempts, 1);
  EXPECT_EQ(rest.not_before, clock_.Now());
  EXPECT_EQ(pump->stats().delivered, 1);
  pump->Stop();  // idempotent
  // Another claimant has it at once.
  courier_.deliver = nullptr;
  auto next = Named("next");
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->RunOnce(), 1);
  EXPECT_EQ(Get(b).state, OutboxState::kDone);
}

TEST_P(OutboxPumpTest, EachTopicHasItsOwnPollBatchLeaseAndRetry) {
  // poll, batch, lease, max attempts, backoff base and cap
  const DeliveryPolicy fast{milliseconds(100), 2, seconds(10), 2, seconds(1), seconds(1)};
  const DeliveryPolicy slow{seconds(1), 5, seconds(30), 5, seconds(4), seconds(8)};
  MakeOutbox({{"fast", fast}, {"slow", slow}});
  std::map<std::string, int64_t> ids;
  for (const std::string k : {"f1", "f2", "f3"}) ids[k] = Enqueue(k, "fast");
  for (const std::string k : {"s1", "s2", "s3"}) ids[k] = Enqueue(k, "slow");
  courier_.deliver = [](const std::string&, const std::vector<OutboxItem>& items,
                        const std::string&) {
    return All(items.size(), DeliveryOutcome::kRetry, "HTTP 503");
  };
  OutboxPumpOptions o;
  o.topics = {"fast", "slow"};
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  const TimePoint t0 = clock_.Now();

  EXPECT_EQ(pump->RunOnce(), 5);  // fast: its batch of 2; slow: all 3
  std::vector<Call> calls = courier_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(calls[0].keys, ElementsAre("f1", "f2"));
  EXPECT_THAT(calls[0].lease_until, ElementsAre(t0 + seconds(10), t0 + seconds(10)));
  EXPECT_THAT(calls[1].keys, ElementsAre("s1", "s2", "s3"));
  EXPECT_EQ(calls[1].lease_until[0], t0 + seconds(30));
  EXPECT_EQ(Get(ids["f1"]).not_before, t0 + seconds(1));
  EXPECT_EQ(Get(ids["s1"]).not_before, t0 + seconds(4));

  EXPECT_EQ(pump->RunOnce(), 1);  // fast filled its batch: claimed again at once
  EXPECT_EQ(Get(ids["f3"]).attempts, 1);

  clock_.Advance(seconds(1));
  EXPECT_EQ(pump->RunOnce(), 2);  // f1, f2: second attempt, fast's last
  EXPECT_EQ(pump->RunOnce(), 1);  // f3
  for (const std::string k : {"f1", "f2", "f3"}) {
    EXPECT_EQ(Get(ids[k]).state, OutboxState::kDead) << k;
  }

  clock_.Advance(seconds(3));
  EXPECT_EQ(pump->RunOnce(), 3);  // the slow ones' second attempt, 4 s after the first
  const OutboxItem s1 = Get(ids["s1"]);
  EXPECT_EQ(s1.state, OutboxState::kPending);
  EXPECT_EQ(s1.attempts, 2);
  EXPECT_EQ(s1.not_before, t0 + seconds(4) + seconds(8));
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.dead, 3);     // f1, f2, f3 at their second attempt
  EXPECT_EQ(st.retried, 9);  // f1, f2, f3 once; s1, s2, s3 twice
}

TEST_P(OutboxPumpTest, OneSourcesHangingOrFailingDeliveriesDoNotHoldUpAnother) {
  std::shared_ptr<Database> second = AddSource("b");
  ASSERT_NE(second, nullptr);
  courier_.broken.insert("down");  // a third tenant whose database fails every write
  const int64_t a1 = Enqueue("a1");
  const int64_t a2 = Enqueue("a2");
  const int64_t b1 = Enqueue("b1", "t", "x", second.get());
  Gate gate;
  std::promise<void> got_b;
  courier_.deliver = [&](const std::string& source, const std::vector<OutboxItem>& items,
                         const std::string&) {
    if (source == "a") {
      gate.Enter();  // tenant a's receiver hangs until the pump stops
      return All(items.size(), DeliveryOutcome::kRetry, "timeout");
    }
    got_b.set_value();
    return All(items.size(), DeliveryOutcome::kDone);
  };
  courier_.on_stop = [&] { gate.Open(); };
  auto pump = OneAtATime(2, 1);  // each tenant may hold one claimed item
  ASSERT_NE(pump, nullptr);
  ASSERT_OK(pump->Start());  // "down" cannot release its leases: logged, the others start
  gate.entered.get_future().wait();
  ASSERT_EQ(got_b.get_future().wait_for(seconds(30)), std::future_status::ready);
  pump->Stop();
  EXPECT_EQ(Get(b1, second.get()).state, OutboxState::kDone);
  const OutboxItem first = Get(a1);
  EXPECT_EQ(first.state, OutboxState::kPending);
  EXPECT_EQ(first.last_error, "timeout");
  // Never claimed: a's one place was a1's, while b's own place took b1.
  EXPECT_EQ(Get(a2).state, OutboxState::kPending);
  EXPECT_EQ(Get(a2).attempts, 0);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.delivered, 1);
  EXPECT_EQ(st.retried, 1);
}

// A source whose database stalls (its claim does not come back: a long import holds its SQLite
// writer, another node holds a lock) does not hold up the claims of the others, and gets no
// second claim while its first is out; once that comes back, its items go too.
TEST_P(OutboxPumpTest, AStalledSourcesClaimDoesNotHoldUpTheOthers) {
  std::shared_ptr<Database> second = AddSource("b");
  ASSERT_NE(second, nullptr);
  const int64_t a1 = Enqueue("a1");
  const int64_t b1 = Enqueue("b1", "t", "x", second.get());
  courier_.Stall("a");
  OutboxPumpOptions o;
  o.run_once_wait = milliseconds(200);  // RunOnce waits this long for a's claim
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  // On a thread of its own: a dispatcher that waited for "a" would never come back.
  auto first = std::async(std::launch::async, [&] { return pump->RunOnce(); });
  if (first.wait_for(seconds(20)) != std::future_status::ready) {
    courier_.Unstall("a");
    FAIL() << "the round waited for the stalled source's claim";
  }
  EXPECT_EQ(first.get(), 1);  // b1
  EXPECT_EQ(Get(b1, second.get()).state, OutboxState::kDone);
  EXPECT_EQ(Get(a1).state, OutboxState::kPending);
  clock_.Advance(seconds(5));  // the topic is due again
  EXPECT_EQ(pump->RunOnce(), 0);
  EXPECT_EQ(courier_.StalledWrites("a"), 1u);  // its claim, not a second one
  courier_.Unstall("a");                       // the claim runs and comes back with a1
  EXPECT_EQ(pump->RunOnce(), 1);
  EXPECT_EQ(Get(a1).state, OutboxState::kDone);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.claimed, 2);
  EXPECT_EQ(st.delivered, 2);
}

// Reads of a clock, counted: a dispatcher that spins reads its clock without end.
class CountingClock final : public Clock {
 public:
  explicit CountingClock(const Clock& inner) : inner_(inner) {}
  TimePoint Now() const override {
    ++reads_;
    return inner_.Now();
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    ++reads_;
    return inner_.SteadyNow();
  }
  int64_t reads() const { return reads_.load(); }

 private:
  const Clock& inner_;
  mutable std::atomic<int64_t> reads_{0};
};

// A source whose lease renewal does not come back (its database stalls while its items are being
// delivered) gets no second renewal — neither at the next half of the lease nor from a dispatcher
// spinning on items already due — while the other source's leases are renewed at each half of
// theirs; once the stalled write runs, its renewal counts.
TEST_P(OutboxPumpTest, AStalledSourcesRenewalIsNotRepeatedAndTheOthersAreStillRenewed) {
  std::shared_ptr<Database> second = AddSource("b");
  ASSERT_NE(second, nullptr);
  const int64_t a1 = Enqueue("a1");
  const int64_t b1 = Enqueue("b1", "t", "x", second.get());
  // Each source's delivery hangs until the pump stops, so its item stays held.
  std::map<std::string, Gate> gates;
  gates["a"];
  gates["b"];
  courier_.deliver = [&](const std::string& source, const std::vector<OutboxItem>& items,
                         const std::string&) {
    gates.at(source).Enter();
    return All(items.size(), DeliveryOutcome::kDone);
  };
  courier_.on_stop = [&] {
    for (auto& [source, gate] : gates) gate.Open();
  };
  CountingClock counting(clock_);
  OutboxPumpOptions o;
  o.topics = {"t"};
  o.threads = 2;
  o.batch_items = 1;
  o.peer_requests = 1;
  o.in_hand = 1;  // each source holds its one item: no claim while it does
  ASSERT_OK_AND_ASSIGN(auto pump, OutboxPump::Create(*outbox_, courier_, o, counting));
  const TimePoint t0 = clock_.Now();
  ASSERT_OK(pump->Start());
  gates.at("a").entered.get_future().wait();
  gates.at("b").entered.get_future().wait();
  courier_.Stall("a");
  // No ASSERT from here on: the pump cannot stop while a's write is out (Unstall below).
  auto renewed_reaches = [&](int64_t n) {
    for (int i = 0; i < 3000 && pump->stats().renewed < n; ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return pump->stats().renewed;
  };
  clock_.Advance(seconds(30));  // half the 60 s lease: both sources' items are due
  pump->Notify();
  EXPECT_EQ(renewed_reaches(1), 1);  // b's
  for (int i = 0; i < 3000 && courier_.StalledWrites("a") == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(courier_.StalledWrites("a"), 1u);  // a's renewal, out
  EXPECT_EQ(Get(b1, second.get()).lease_until, t0 + seconds(30) + seconds(60));
  // The clock stands still with a's items due and their renewal out. An idle dispatcher wakes
  // at each poll (200 ms) and reads the clock a few times; one that took a's items for due
  // would spin. (A spin can only be seen over real time, hence the sleep.)
  const int64_t reads_before = counting.reads();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_LE(counting.reads() - reads_before, 40);
  EXPECT_EQ(courier_.StalledWrites("a"), 1u);
  // Two more halves of b's lease: b's renewed each time, a's gets nothing more.
  clock_.Advance(seconds(30));
  pump->Notify();
  EXPECT_EQ(renewed_reaches(2), 2);
  EXPECT_EQ(Get(b1, second.get()).lease_until, t0 + seconds(60) + seconds(60));
  clock_.Advance(seconds(30));
  pump->Notify();
  EXPECT_EQ(renewed_reaches(3), 3);
  EXPECT_EQ(Get(b1, second.get()).lease_until, t0 + seconds(90) + seconds(60));
  EXPECT_EQ(courier_.StalledWrites("a"), 1u);        // still its one renewal: no second, no claim
  EXPECT_EQ(Get(a1).lease_until, t0 + seconds(60));  // never renewed: the write has not run
  courier_.Unstall("a");  // a's renewal runs (at t0 + 90 s) and comes back
  EXPECT_EQ(Get(a1).lease_until, t0 + seconds(90) + seconds(60));
  EXPECT_GE(pump->stats().renewed, 4);
  pump->Stop();
  EXPECT_EQ(Get(a1).state, OutboxState::kDone);
  EXPECT_EQ(Get(b1, second.get()).state, OutboxState::kDone);
  EXPECT_EQ(pump->stats().delivered, 2);
  EXPECT_EQ(pump->stats().lost, 0);
}

// A wake-up (new work committed) while the topic's last claim is still out is not lost: once
// that claim comes back, the next round claims again — without it, the new item waited for the
// topic's next poll (the cluster test's linkages took seconds each).
TEST_P(OutboxPumpTest, AWakeUpWhileAClaimIsOutClaimsAgainWhenItComesBack) {
  const int64_t a1 = Enqueue("a1");
  courier_.Late("a");
  OutboxPumpOptions o;
  o.run_once_wait = milliseconds(200);
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  EXPECT_EQ(pump->RunOnce(), 0);  // a1 claimed; the claim has not come back
  const int64_t a2 = Enqueue("a2");
  pump->Notify();
  EXPECT_EQ(pump->RunOnce(), 0);  // the claim is still out: no second one
  courier_.Unstall("a");          // it comes back with a1
  EXPECT_EQ(pump->RunOnce(), 2);  // a1, and a2 claimed at once (the clock has not moved)
  EXPECT_EQ(Get(a1).state, OutboxState::kDone);
  EXPECT_EQ(Get(a2).state, OutboxState::kDone);
}

// A claim out reserves its source's room: a topic that found no room meanwhile is claimed once
// that claim comes back with less than it reserved — not only when a delivery frees room (there
// may be none: the cluster test's results waited for the next poll).
TEST_P(OutboxPumpTest, ATopicWithoutRoomWhileAnotherTopicsClaimIsOutIsClaimedWhenItComesBack) {
  const int64_t u1 = Enqueue("u1", "u");
  courier_.Late("a");
  OutboxPumpOptions o;
  o.topics = {"t", "u"};
  o.in_hand = 1;
  o.run_once_wait = milliseconds(200);
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  EXPECT_EQ(pump->RunOnce(), 0);  // t's claim is out with the one place; u has no room
  courier_.Unstall("a");          // t's claim comes back empty
  EXPECT_EQ(pump->RunOnce(), 1);  // u1, at once (the clock has not moved)
  EXPECT_EQ(Get(u1).state, OutboxState::kDone);
}

// Writes `key` through `handoff` in the test's source, committed when `commit`; returns the
// transaction's outcome.
Status WriteThrough(Database& db, OutboxHandoff& handoff, const std::string& key, bool commit) {
  ASSIGN_OR_RETURN(auto tx, db.Begin());
  RETURN_IF_ERROR(handoff.Enqueue(*tx, "t", key, ToBytes("x|" + key)));
  return commit ? tx->Commit() : Status();  // not committed: rolled back
}

// The write that adds an item hands it to the running pump: delivered with no claim, as leased
// by the pump; a write run again hands over what its second run added.
TEST_P(OutboxPumpTest, AHandedOverItemIsDeliveredWithoutAClaim) {
  std::promise<std::string> got;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string&) {
    got.set_value(items[0].dedupe_key + " " + std::to_string(items[0].attempts));
    return All(items.size(), DeliveryOutcome::kDone);
  };
  OutboxPumpOptions o;
  o.threads = 2;
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartAndWaitForTheFirstRound(*pump));
  std::shared_ptr<OutboxHandoff> handoff = pump->HandOff("a");
  ASSERT_TRUE(handoff->reserved());
  ASSERT_OK(WriteThrough(*db_, *handoff, "k", false));  // a first run, rolled back
  ASSERT_OK(WriteThrough(*db_, *handoff, "k", true));
  const int64_t id = IdOf("k");
  const OutboxItem leased = Get(id);
  EXPECT_EQ(leased.state, OutboxState::kLeased);  // before Settle: the pump's, not claimable
  handoff->Settle(Status());
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
  EXPECT_EQ(f.get(), "k 1");
  pump->Stop();
  EXPECT_EQ(Get(id).state, OutboxState::kDone);
  const std::vector<Call> calls = courier_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].owner, pump->owner());
  EXPECT_THAT(calls[0].lease_until, ElementsAre(clock_.Now() + seconds(60)));
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.handed, 1);
  EXPECT_EQ(st.claimed, 0);
  EXPECT_EQ(st.delivered, 1);
  handoff->Settle(Status());  // once: nothing more
  EXPECT_EQ(pump->stats().handed, 1);
}

// Handed items take the room claimed ones do: a handoff finding none adds its item pending and
// wakes the pump, whose claim waits for room; room reserved by a write that never commits is
// given back. A pump not running reserves nothing.
TEST_P(OutboxPumpTest, AHandoffWithoutRoomAddsAPendingItemThatIsClaimedOnceRoomIsBack) {
  std::promise<std::string> got;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string&) {
    got.set_value(items[0].dedupe_key);
    return All(items.size(), DeliveryOutcome::kDone);
  };
  auto idle = OneAtATime(1, 1);
  ASSERT_NE(idle, nullptr);
  EXPECT_FALSE(idle->HandOff("a")->reserved());  // not started
  idle.reset();
  auto pump = OneAtATime(1, 1);  // one item in hand at most
  ASSERT_NE(pump, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartAndWaitForTheFirstRound(*pump));
  std::shared_ptr<OutboxHandoff> first = pump->HandOff("a");
  std::shared_ptr<OutboxHandoff> second = pump->HandOff("a");
  EXPECT_TRUE(first->reserved());
  EXPECT_FALSE(second->reserved());  // the pump's one place is taken
  ASSERT_OK(WriteThrough(*db_, *second, "k2", true));
  EXPECT_EQ(Get(IdOf("k2")).state, OutboxState::kPending);
  second->Settle(Status());  // announced: the pump's claim finds no room yet
  auto f = got.get_future();
  EXPECT_EQ(f.wait_for(milliseconds(300)), std::future_status::timeout);
  ASSERT_OK(WriteThrough(*db_, *first, "k1", false));  // never committed …
  first.reset();                                       // … and dropped: the room is back
  ASSERT_EQ(f.wait_for(seconds(30)), std::future_status::ready);
  EXPECT_EQ(f.get(), "k2");
  pump->Stop();
  EXPECT_EQ(IdOf("k1"), -1);
  EXPECT_EQ(Get(IdOf("k2")).state, OutboxState::kDone);
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.handed, 0);
  EXPECT_EQ(st.claimed, 1);
  EXPECT_EQ(st.delivered, 1);
}

// A handed-over write whose key is already in the outbox adds nothing (the item there stays as
// it was, to be claimed when due) and gives its room back on Settle.
TEST_P(OutboxPumpTest, AHandoffWhoseKeyIsAlreadyThereAddsNothingAndGivesItsRoomBack) {
  auto pump = OneAtATime(1, 1);  // one item in hand at most
  ASSERT_NE(pump, nullptr);
  const int64_t id = WriteItem("k", clock_.Now() + seconds(3600));  // pending, not yet due
  ASSERT_NO_FATAL_FAILURE(StartAndWaitForTheFirstRound(*pump));
  std::shared_ptr<OutboxHandoff> handoff = pump->HandOff("a");
  ASSERT_TRUE(handoff->reserved());
  EXPECT_FALSE(pump->HandOff("a")->reserved());  // the one place is taken
  {
    auto tx = db_->Begin();
    ASSERT_OK(tx);
    ASSERT_OK(handoff->Enqueue(**tx, "t", "k", ToBytes("x|other")));
    ASSERT_OK((*tx)->Commit());
  }
  handoff->Settle(Status());
  EXPECT_TRUE(pump->HandOff("a")->reserved());  // the room is back
  pump->Stop();
  const OutboxItem item = Get(id);
  EXPECT_EQ(item.state, OutboxState::kPending);
  EXPECT_EQ(item.attempts, 0);
  EXPECT_EQ(item.payload, ToBytes("x|k"));
  EXPECT_EQ(pump->stats().handed, 0);
  EXPECT_TRUE(courier_.calls().empty());
}

// A write that commits after its pump stopped (and was destroyed) leaves its item leased by that
// pump: the instance's next Start releases it, as after a crash.
TEST_P(OutboxPumpTest, AnItemHandedOverAfterItsPumpStoppedWaitsForTheNextStart) {
  auto pump = Named("p");
  ASSERT_NE(pump, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartAndWaitForTheFirstRound(*pump));
  std::shared_ptr<OutboxHandoff> handoff = pump->HandOff("a");
  ASSERT_TRUE(handoff->reserved());
  ASSERT_OK(WriteThrough(*db_, *handoff, "k", true));
  const std::string owner = pump->owner();
  pump.reset();               // stopped and gone
  handoff->Settle(Status());  // reaches no pump
  const OutboxItem item = Get(IdOf("k"));
  EXPECT_EQ(item.state, OutboxState::kLeased);
  EXPECT_EQ(item.attempts, 1);
  EXPECT_TRUE(courier_.calls().empty());
  std::promise<void> got;
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string& by) {
    EXPECT_NE(by, owner);
    got.set_value();
    return All(items.size(), DeliveryOutcome::kDone);
  };
  auto next = Named("p");
  ASSERT_NE(next, nullptr);
  ASSERT_OK(next->Start());  // releases the leases of "p:…"
  ASSERT_EQ(got.get_future().wait_for(seconds(30)), std::future_status::ready);
  next->Stop();
  EXPECT_EQ(Get(IdOf("k")).state, OutboxState::kDone);
  EXPECT_EQ(next->stats().claimed, 1);
}

// Writers racing each other and the pump: eight threads hand over 50 items each to a pump with
// room for 8, so that most find no room and add theirs pending. Every item is delivered once,
// handed or claimed, and all the room comes back.
TEST_P(OutboxPumpTest, ManyWritersHandingOverAtOnceLoseNothingAndKeepTheRoomRight) {
  constexpr int kThreads = 8;
  constexpr int kEach = 50;
  Mutex mu;
  std::map<std::string, int> seen;  // key → deliveries
  courier_.deliver = [&](const std::string&, const std::vector<OutboxItem>& items,
                         const std::string&) {
    MutexLock lock(mu);
    for (const OutboxItem& item : items) ++seen[item.dedupe_key];
    return All(items.size(), DeliveryOutcome::kDone);
  };
  OutboxPumpOptions o;
  o.threads = 2;
  o.in_hand = 8;
  o.batch_items = 4;
  auto pump = Pump(o);
  ASSERT_NE(pump, nullptr);
  ASSERT_OK(pump->Start());
  std::atomic<int> reserved{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::shared_ptr<OutboxHandoff> h = pump->HandOff("a");
        if (h->reserved()) ++reserved;
        const Status s = WriteThrough(*db_, *h, std::to_string(t) + "-" + std::to_string(i), true);
        if (!s.ok()) ++failed;
        h->Settle(s);
      }
    });
  }
  for (std::thread& w : writers) w.join();
  ASSERT_EQ(failed.load(), 0);
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (pump->stats().delivered < kThreads * kEach &&
         std::chrono::steady_clock::now() < deadline) {
    pump->Notify();  // the fake clock never moves: what waits pending is claimed on a wake-up
    std::this_thread::sleep_for(milliseconds(20));
  }
  const OutboxPump::Stats st = pump->stats();
  EXPECT_EQ(st.delivered, kThreads * kEach);
  EXPECT_EQ(st.handed + st.claimed, kThreads * kEach);
  EXPECT_EQ(st.handed, reserved.load());
  EXPECT_GT(st.claimed, 0);  // some found no room
  {
    MutexLock lock(mu);
    EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
    for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key;
  }
  // All the room is back: as many handoffs as the pump may hold reserve again (once the claim
  // of the last wake-up, which reserves room while it is out, has come back).
  std::vector<std::shared_ptr<OutboxHandoff>> again;
  for (int tries = 0; tries < 500; ++tries) {
    again.clear();
    for (int i = 0; i < 8; ++i) again.push_back(pump->HandOff("a"));
    if (std::all_of(again.begin(), again.end(), [](const auto& h) { return h->reserved(); })) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  for (const auto& h : again) EXPECT_TRUE(h->reserved());
  EXPECT_FALSE(pump->HandOff("a")->reserved());
  again.clear();  // dropped unsettled: given back
  EXPECT_TRUE(pump->HandOff("a")->reserved());
  pump->Stop();
}

TEST_P(OutboxPumpTest, CreateRefusesBadOptions) {
  OutboxPumpOptions none;
  none.topics = {};
  EXPECT_THAT(OutboxPump::Create(*outbox_, courier_, none, clock_),
              chukan::testing::StatusIs(StatusCode::kInvalidArgument));
  OutboxPumpOptions zero;
  zero.topics = {"t"};
  zero.threads = 0;
  EXPECT_THAT(OutboxPump::Create(*outbox_, courier_, zero, clock_),
              chukan::testing::StatusIs(StatusCode::kInvalidArgument));
  OutboxOptions bad;
  DeliveryPolicy p;
  p.batch = 0;
  bad.topics["t"] = p;
  EXPECT_THAT(
      Outbox::Create(bad, clock_),
      chukan::testing::StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("topic \"t\"")));
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(OutboxPumpTest);

}  // namespace
}  // namespace chukan::store
