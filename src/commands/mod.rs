pub mod demo;
pub mod emulator;
pub mod live;
pub mod offline;
pub mod progress;
