//! Shared helpers of chapter 7's tests.
#![allow(dead_code)]

pub mod lab;
pub mod netns;
