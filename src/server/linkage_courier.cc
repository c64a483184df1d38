#include "server/linkage_courier.h"

#include <atomic>
#include <future>
#include <optional>

#include "common/log.h"
#include "crypto/bytes.h"
#include "http/api_util.h"
#include "json/json.h"
#include "server/provisions.h"

namespace chukan::server {
namespace {

// The hub's SHA-256 of the permit from its answer to a permit request (it answered over TLS,
// as the hub): 32 bytes, or nullopt when absent or malformed — the permit that comes back with
// the answer is then verified in full.
std::optional<crypto::Bytes> PermitDigest(const Result<json::JsonObject>& answer) {
  if (!answer.ok()) return std::nullopt;
  Result<std::optional<std::string>> text = answer->GetOptionalString("permit_sha256", 64);
  if (!text.ok() || !*text) return std::nullopt;
  Result<crypto::Bytes> raw = crypto::FromBase64Url(**text);
  if (!raw.ok() || raw->size() != 32) return std::nullopt;
  return *std::move(raw);
}

// The permit request for an inquiry that is still accepted; nullopt when it ended or moved on
// meanwhile (nothing to send).
Result<std::optional<std::string>> PermitRequestBody(store::Transaction& tx,
                                                     const std::string& inquiry_id) {
  ASSIGN_OR_RETURN(std::optional<PermitRequestRow> row, ReadPermitRequest(tx, inquiry_id));
  if (!row || row->state != InquiryStateName(InquiryState::kAccepted)) {
    return std::optional<std::string>();
  }
  json::JsonWriter w;
  w.BeginObject()
      .Key("provider")
      .String(row->provider)
      .Key("procedure")
      .String(row->procedure)
      .Key("tm")
      .String(row->tm)
      .Key("layout_version")
      .String(row->layout_version)
      .Key("subject_code")
      .String(row->subject_code)
      .Key("reply_key")
      .String(crypto::ToBase64Url(row->reply_public))
      .Key("reference")
      .String(inquiry_id)
      .EndObject();
  ASSIGN_OR_RETURN(std::string body, w.Finish());
  // Splice the stored query object in (it is JSON already, written by Inquiries::Create).
  body.pop_back();
  body += ",\"query\":" + row->query_json;
  // Written only when set: a hub that predates them sees the same request as before.
  if (row->non_disclosure) body += ",\"non_disclosure\":true";
  // Stored as validated 16-digit codes (InsertInquiry): no escaping needed.
  if (!row->inquirer_delegator.empty()) {
    body += ",\"inquirer_delegator\":\"" + row->inquirer_delegator + "\"";
  }
  if (!row->provider_delegator.empty()) {
    body += ",\"provider_delegator\":\"" + row->provider_delegator + "\"";
  }
  body += "}";
  return std::optional<std::string>(std::move(body));
}

}  // namespace

std::string HubReason(const http::Response& r) {
  Result<json::JsonObject> o = json::ParseJsonObject(r.body);
  if (o.ok()) {
    Result<json::JsonObject> e = o->GetObject("error");
    if (e.ok()) {
      if (auto reason = e->GetOptionalString("reason", 64); reason.ok() && *reason) return **reason;
      if (auto code = e->GetOptionalString("code", 64); code.ok() && *code) return **code;
    }
  }
  return "HTTP_" + std::to_string(r.status);
}

Status LinkageCourier::Deliver(const TenantId& tenant, const std::vector<store::OutboxItem>& items,
                               const std::string& owner) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, env_.Tenant(tenant));
  if (items.empty()) return Status();
  // Without a hub nothing can be sent; the items keep their leases and are retried.
  if (env_.hub == nullptr) return FailedPreconditionError("linkage: this server has no hub");
  store::Outbox* outbox = &env_.outbox;
  const std::string topic = items.front().topic;
  const bool permits = topic == kTopicPermitRequest;
  if (!permits && topic != kTopicProvision) {
    for (const store::OutboxItem& item : items) {
      log::Warn("server.delivery_failed", {{"tenant", tenant.str()},
                                           {"topic", item.topic},
                                           {"attempt", item.attempts},
                                           {"error", "unknown topic"}});
      RETURN_IF_ERROR(st->Commit([&](store::Transaction& tx) {
        return outbox->Fail(tx, item.id, owner, "unknown topic");
      }));
    }
    return Status();
  }
  // What to send: a provision's sealed envelope is the payload; a permit request is built from
  // its inquiry, unless the inquiry ended (expired) or moved on meanwhile — then there is
  // nothing to send and the item is acknowledged.
  std::vector<std::optional<std::string>> bodies(items.size());
  std::vector<std::shared_future<Status>> writes;
  if (permits) {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string id(items[i].payload.begin(), items[i].payload.end());
      ASSIGN_OR_RETURN(bodies[i], PermitRequestBody(*tx, id));
    }
    RETURN_IF_ERROR(tx->Commit());
  } else {
    for (size_t i = 0; i < items.size(); ++i) {
      bodies[i] = std::string(items[i].payload.begin(), items[i].payload.end());
    }
  }
  std::vector<size_t> to_send;
  std::vector<std::string> texts;
  for (size_t i = 0; i < items.size(); ++i) {
    if (bodies[i]) {
      to_send.push_back(i);
      texts.push_back(std::move(*bodies[i]));
      continue;
    }
    const int64_t id = items[i].id;
    // Bookkeeping only: lazy (GroupCommitter::Durability).
    writes.push_back(
        st->Submit(
              [outbox, id, owner](store::Transaction& tx) { return outbox->Ack(tx, id, owner); },
              store::GroupCommitter::Rerun::kSafe, store::GroupCommitter::Durability::kLazy)
            .share());
  }
  // Send: alone, or as one batch (http::SendItems).
  const std::vector<Result<http::Response>> answers =
      http::SendItems(texts, permits ? "/hub/v1/inquiries" : "/hub/v1/provisions",
                      permits ? "/hub/v1/batch/inquiries" : "/hub/v1/batch/provisions",
                      [&](std::string_view path, std::string body, size_t) {
                        return env_.hub->Post(tenant.org(), path, std::move(body));
                      });
  // Record each outcome with its acknowledgement.
  const int64_t now = env_.NowUs();
  // Items deferred because the hub was busy, and items that ended (acknowledged) here.
  int64_t busy = 0;
  int64_t ended_items = static_cast<int64_t>(items.size() - to_send.size());
  std::vector<std::string> ended;
  for (size_t k = 0; k < to_send.size(); ++k) {
    const store::OutboxItem& item = items[to_send[k]];
    const Result<http::Response>& r = answers[k];
    const int64_t item_id = item.id;
    store::GroupCommitter::WriteFn record;
    // Whether the outcome is one a repeat would get again from the hub (the same permit for the
    // same inquiry, 202 for the same envelope): then its record is bookkeeping, as an
    // acknowledgement is, and commits lazily — lost in a crash of the machine, the item is sent
    // again and the same answer recorded. An outcome that ends an inquiry is durable.
    bool repeatable = false;
    const http::Delivery delivery = http::Classify(r);
    if (delivery == http::Delivery::kBusy) {
      // The hub is overloaded: again after its Retry-After, no attempt counted (not logged item
      // by item: an overload would flood the log).
      ++busy;
      const TimePoint again = env_.clock.Now() + http::RetryAfter(*r);
      const std::string error = "HTTP " + std::to_string(r->status);
      record = [outbox, item_id, owner, again, error](store::Transaction& tx) {
        return outbox->Defer(tx, item_id, owner, again, error);
      };
    } else if (delivery == http::Delivery::kRetry) {
      const std::string error =
          r.ok() ? "HTTP " + std::to_string(r->status) : r.status().ToString();
      log::Warn("server.delivery_failed", {{"tenant", tenant.str()},
                                           {"topic", item.topic},
                                           {"attempt", item.attempts},
                                           {"error", error}});
      record = [outbox, item_id, owner, error](store::Transaction& tx) {
        return outbox->Fail(tx, item_id, owner, error);
      };
    } else if (permits) {
      const std::string id(item.payload.begin(), item.payload.end());
      if (r->status == 201 || r->status == 200) {
        Result<json::JsonObject> o = json::ParseJsonObject(r->body);
        std::string permit_id = o.ok() ? o->GetString("permit_id", 64).value_or("") : "";
        std::optional<crypto::Bytes> digest = PermitDigest(o);
        // Still open: long polls wait for the end, so nobody is woken for this.
        repeatable = true;
        record = [outbox, item_id, owner, permit_id, digest, now,
                  id](store::Transaction& tx) -> Status {
          RETURN_IF_ERROR(MarkInquiryPermitted(tx, id, permit_id, digest, now).status());
          return outbox->Ack(tx, item_id, owner);
        };
      } else {
        const InquiryState state =
            r->status == 403 ? InquiryState::kRefused : InquiryState::kFailed;
        const std::string reason = HubReason(*r);
        ended.push_back(id);  // its waiters wake
        record = [outbox, item_id, owner, state, reason, now,
                  id](store::Transaction& tx) -> Status {
          RETURN_IF_ERROR(EndUnpermittedInquiry(tx, id, state, reason, now).status());
          return outbox->Ack(tx, item_id, owner);
        };
      }
    } else {
      const bool sent = r->status == 202;
      repeatable = sent;
      const std::string reason = sent ? "" : HubReason(*r);
      const std::string permit_id = item.dedupe_key;
      record = [outbox, item_id, owner, sent, reason, now,
                permit_id](store::Transaction& tx) -> Status {
        RETURN_IF_ERROR(sent ? MarkProvisionSent(tx, permit_id, now)
                             : MarkProvisionSendFailed(tx, permit_id, reason));
        return outbox->Ack(tx, item_id, owner);
      };
    }
    if (delivery != http::Delivery::kBusy && delivery != http::Delivery::kRetry) ++ended_items;
    // Each record is all in the transaction: safe to run twice.
    writes.push_back(st->Submit(std::move(record), store::GroupCommitter::Rerun::kSafe,
                                repeatable ? store::GroupCommitter::Durability::kLazy
                                           : store::GroupCommitter::Durability::kDurable)
                         .share());
  }
  Status first_error;
  for (std::shared_future<Status>& w : writes) {
    Status s = w.get();
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  // What left the backlog (an estimate: a record that failed is counted again at the next count).
  st->outbox_backlog.Delivered(ended_items);
  if (busy > 0) {
    // Once in ten seconds at most per process, however many batches the hub turns away.
    static std::atomic<int64_t> last_logged_us{0};
    int64_t last = last_logged_us.load();
    if (now - last >= 10'000'000 && last_logged_us.compare_exchange_strong(last, now)) {
      log::Info("server.hub_busy", {{"tenant", tenant.str()}, {"topic", topic}, {"items", busy}});
    }
  }
  for (const std::string& id : ended) inquiries_.Changed(id);
  return first_error;
}

}  // namespace chukan::server
