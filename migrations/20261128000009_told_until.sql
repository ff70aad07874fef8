-- Targets that end access themselves (a PIM schedule, a VM JIT request's end) are told the
-- lease's end when the access is added. `told_until` is the end they were last told; when a
-- lease is extended past it, the engine tells the target the new end (the grant falls due at
-- once), so the target does not take the access away before the lease ends. Null for targets
-- that do not keep an end of their own.

alter table grants add column told_until timestamptz;
