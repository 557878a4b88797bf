pub mod demo;
pub mod live;
pub mod offline;
pub mod progress;
