//! End-to-end tests: real `edusync` processes on 127.0.0.1, driven through the
//! command line and gRPC, killed with SIGKILL and restarted.

mod audit;
mod cli;
mod connections;
mod crash;
mod disk;
mod harness;
mod links;
mod privacy;
mod service;
mod sync;
mod tour;
mod trust;
mod web;
