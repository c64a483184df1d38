// LaneBatcher: the queue of a sender that batches. Items wait in lanes (one lane per receiver
// and kind of message); Take() hands out the oldest waiting item whose lane has fewer than
// `per_lane` batches in flight, together with every other waiting item of that lane, up to
// `max_items` items and `max_bytes` bytes (a first item larger than that still goes, alone).
// So under light load every item leaves at once, alone, and under heavy load items pile up
// while their lane is busy and leave together in the next batch — the batch grows with the load
// and no receiver gets more than `per_lane` requests at a time from this sender.
//
// Thread-compatible: the owner guards it with its own mutex.
#ifndef CHUKAN_COMMON_LANE_BATCHER_H_
#define CHUKAN_COMMON_LANE_BATCHER_H_

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace chukan {

template <typename T>
class LaneBatcher {
 public:
  struct Batch {
    std::string lane;
    std::vector<T> items;  // oldest first
  };

  // Limits below 1 count as 1.
  LaneBatcher(size_t per_lane, size_t max_items, size_t max_bytes)
      : per_lane_(per_lane < 1 ? 1 : per_lane),
        max_items_(max_items < 1 ? 1 : max_items),
        max_bytes_(max_bytes < 1 ? 1 : max_bytes) {}

  void Add(std::string lane, size_t bytes, T item) {
    waiting_.push_back({std::move(lane), bytes, std::move(item)});
  }

  // Waiting items (not those taken).
  size_t size() const { return waiting_.size(); }

  // True when Take() would return a batch.
  bool Ready() const { return First() != waiting_.end(); }

  // The next batch, its lane counted in flight until Done(lane); nullopt when every waiting
  // item's lane is full (or nothing waits).
  std::optional<Batch> Take() {
    auto first = First();
    if (first == waiting_.end()) return std::nullopt;
    Batch batch;
    batch.lane = first->lane;
    size_t bytes = 0;
    for (auto it = first; it != waiting_.end() && batch.items.size() < max_items_;) {
      if (it->lane != batch.lane || (!batch.items.empty() && bytes + it->bytes > max_bytes_)) {
        ++it;
        continue;
      }
      bytes += it->bytes;
      batch.items.push_back(std::move(it->item));
      it = waiting_.erase(it);
    }
    ++in_flight_[batch.lane];
    return batch;
  }

  // A batch of `lane` taken earlier is finished.
  void Done(const std::string& lane) {
    auto it = in_flight_.find(lane);
    if (it == in_flight_.end()) return;
    if (--it->second == 0) in_flight_.erase(it);
  }

  // Drops every waiting item (in-flight counts stay until their Done()).
  void Clear() { waiting_.clear(); }

  // A paused lane's items wait (Take passes them over) until Resume(lane): a receiver that said
  // it is overloaded is left alone, and the other lanes go on.
  void Pause(const std::string& lane) { paused_.insert(lane); }
  void Resume(const std::string& lane) { paused_.erase(lane); }
  bool Paused(const std::string& lane) const { return paused_.count(lane) > 0; }

 private:
  struct Entry {
    std::string lane;
    size_t bytes;
    T item;
  };

  typename std::deque<Entry>::const_iterator FirstConst() const {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (!paused_.empty() && paused_.count(it->lane) > 0) continue;
      auto f = in_flight_.find(it->lane);
      if (f == in_flight_.end() || f->second < per_lane_) return it;
    }
    return waiting_.end();
  }
  typename std::deque<Entry>::const_iterator First() const { return FirstConst(); }
  typename std::deque<Entry>::iterator First() {
    auto c = FirstConst();
    return waiting_.begin() + (c - waiting_.cbegin());
  }

  const size_t per_lane_;
  const size_t max_items_;
  const size_t max_bytes_;
  std::deque<Entry> waiting_;
  std::map<std::string, size_t> in_flight_;
  std::set<std::string> paused_;
};

}  // namespace chukan

#endif  // CHUKAN_COMMON_LANE_BATCHER_H_
