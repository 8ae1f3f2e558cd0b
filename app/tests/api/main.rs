//! API tests: one binary, every test with its own application on a random port and
//! its own database. `MODU_TEST_BACKEND` picks the parts: `sqlite` (default: SQLite,
//! local disk, in-process cache and database sessions) or `postgres` (PostgreSQL,
//! Redis sessions and cache, S3 storage on a moto server), started by the harness.

mod abuse;
mod auth;
mod bad_inputs;
mod concurrency;
mod deployed;
mod failures;
mod hardening;
mod health;
mod helpers;
mod images;
mod log_shipping;
mod openapi;
mod resumes;
mod services;
mod shutdown;
mod web;
