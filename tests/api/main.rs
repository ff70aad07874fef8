//! The HTTP surface, end to end against real parts: a PostgreSQL database per test
//! (`#[sqlx::test]`) and the real OpenID Connect provider from `end2end/idp` (one per test run).

mod access;
mod access_reviews;
mod boundary;
mod bundles;
mod cli;
mod contractors;
mod dashboard;
mod delegation;
mod directory;
mod emergency;
mod engine;
mod escalation;
mod evidence;
mod faults;
mod graph;
mod harness;

mod health;
mod holdings;
mod jobs;
mod language;
mod ldap;
mod lifecycle;
mod mail;
mod metrics;
mod movers;
mod oidc;
mod people;
mod people_sync;
mod pinned;
mod read_only;
mod reconcile;
mod rest;
mod seats;
mod security;
mod seed;
mod sessions;
mod startup;
mod teams;
mod trail;
