//! The resume service behind modu's architecture: sign up, log in, submit a resume
//! with portfolio images, and list them — built to hold a spike of "save 10 times"
//! clicks. `startup` wires the parts chosen by `configuration` together.

pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod gate;
pub mod log_shipping;
pub mod parameters;
pub mod protection;
pub mod routes;
pub mod security;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;

pub use error::Error;
