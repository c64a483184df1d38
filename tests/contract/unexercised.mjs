// Documented answers the contract test does not provoke, each with the reason. check-records.mjs
// accepts a documented (operation, status) that never happened only when it is listed here;
// an entry that names nothing documented is an error, so the list cannot go stale silently.
// `path` and `method` may be "*" (every documented one of that spec).
export default [
  // Faults of the process itself (storage errors, a broken invariant): provoking them needs
  // fault injection inside the server. The mapping to 500 is unit-tested (src/http/message_test,
  // tests/http/server_test: a handler exception gives 500 without its message).
  { spec: "*", path: "*", method: "*", status: 500, why: "server fault; needs fault injection" },
  // The /api/v1 gate answers 503 when the platform's token store cannot be read; the hub's
  // storage likewise. Needs a broken database under a running process.
  { spec: "server", path: "/api/v1/replica/imports", method: "post", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/replica/records", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/replica/export", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/replica/reconcile", method: "post", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/codes/bulk", method: "post", status: 503, why: "token store unavailable (a hub that cannot be reached fails lines, not the request)" },
  { spec: "server", path: "/api/v1/inquiries", method: "post", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/inquiries", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/inquiries/{id}", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/inquiries/batch", method: "post", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/inquiries/batch/{id}", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/inquiries/batch/{id}/result-file", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/atena-map", method: "post", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/atena-map", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/approvals", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/approvals/{permit_id}", method: "post", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/records", method: "get", status: 503, why: "token store or tenant storage unavailable" },
  { spec: "server", path: "/api/v1/linkage/status", method: "get", status: 503, why: "token store unavailable" },
  { spec: "hub", path: "*", method: "*", status: 503, why: "the hub's database unavailable (PostgreSQL down)" },
  // /readyz answers 503 after 5 s without a database write: tests/http/server_core_test
  // (ReadyzAnswersFromTheReadinessFunction) provokes it through the readiness function.
  { spec: "server", path: "/readyz", method: "*", status: 503, why: "the node's database unreachable for 5 s" },
  // NO_PERMISSION_LIST: a server that never got the hub's list (or whose copy expired); the
  // local network waits for every server's copy before it is handed to the test. Covered by
  // src/server/linkage_service_test.cc.
  { spec: "server", path: "/node/v1/provision-requests", method: "post", status: 503, why: "no permission list copy" },
  // A decision in the second between the permit's expiry and the sweep that removes the item:
  // a race the test cannot win reliably (tests/linkage covers the 404 after the sweep).
  { spec: "server", path: "/api/v1/approvals/{permit_id}", method: "post", status: 412, why: "decision between permit expiry and the sweep" },
  // Two requests sending the same file at the same moment: the second's insert loses a race
  // the test cannot arrange reliably (the kAborted path is unit-tested:
  // src/server/inquiry_batches_test).
  { spec: "server", path: "/api/v1/inquiries/batch", method: "post", status: 409, why: "the same file sent twice at the same moment" },
  // The hub answers 412 until a permission list is loaded; the local network loads one first.
  { spec: "hub", path: "/hub/v1/permission-list", method: "get", status: 412, why: "a hub without a permission list" },
  // /metrics refuses peers that are not on a loopback address; tests reach the processes only
  // over loopback (tests/http/server_test.cc checks the refusal with the server's options).
  { spec: "*", path: "/metrics", method: "get", status: 403, why: "needs a non-loopback peer" },
  { spec: "*", path: "/metrics", method: "head", status: 403, why: "needs a non-loopback peer" },
];
