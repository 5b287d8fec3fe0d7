// Package faults holds kjournal's fault tests (issue 10): the sidecar, Kafka or Cassandra killed with
// SIGKILL under load, the replicator down, bad bytes on the socket and poison records on a journal
// topic, each asserting that nothing acknowledged is lost and that every failure is a coded error
// within its deadline.
//
// The tests are black-box (package faults_test) and run against a private stack of their own —
// a second Kafka, Cassandra, replicator and sidecar started with deploy/local/stack.sh under
// $KJ_RUN/faults on ports 29092/29093 (Kafka), 29042/27000 (Cassandra), 29095/29096 (HTTP) — so
// killing a server never disturbs the other packages' tests on the shared stack. They run only when
// KJ_FAULTS=1 (make test sets it) and skip, naming the variable, otherwise. KJ_FAULTS_RUN=DIR reuses
// (and leaves running) a private stack in DIR, for quick iterations.
package faults
