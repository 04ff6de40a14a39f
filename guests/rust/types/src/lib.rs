//! A test fixture for plugbox's component calls: every function of
//! `plugbox:test/types` returns its argument, plus a few that misbehave
//! (spin, grow memory, count calls in a global).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

wit_bindgen::generate!({
    path: "../../wit/types.wit",
    world: "types-guest",
});

use exports::plugbox::test::types::{Color, Guest as Types, Perms, Point, Shape};

struct Component;

static CALLS: AtomicU32 = AtomicU32::new(0);
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl Guest for Component {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

impl Types for Component {
    fn echo_bool(v: bool) -> bool {
        v
    }
    fn echo_u8(v: u8) -> u8 {
        v
    }
    fn echo_s8(v: i8) -> i8 {
        v
    }
    fn echo_u16(v: u16) -> u16 {
        v
    }
    fn echo_s16(v: i16) -> i16 {
        v
    }
    fn echo_u32(v: u32) -> u32 {
        v
    }
    fn echo_s32(v: i32) -> i32 {
        v
    }
    fn echo_u64(v: u64) -> u64 {
        v
    }
    fn echo_s64(v: i64) -> i64 {
        v
    }
    fn echo_f32(v: f32) -> f32 {
        v
    }
    fn echo_f64(v: f64) -> f64 {
        v
    }
    fn echo_char(v: char) -> char {
        v
    }
    fn echo_string(v: String) -> String {
        v
    }
    fn echo_list(v: Vec<u32>) -> Vec<u32> {
        v
    }
    fn echo_nested(v: Vec<Vec<String>>) -> Vec<Vec<String>> {
        v
    }
    fn echo_record(v: Point) -> Point {
        v
    }
    fn echo_tuple(v: (String, u32)) -> (String, u32) {
        v
    }
    fn echo_enum(v: Color) -> Color {
        v
    }
    fn echo_variant(v: Shape) -> Shape {
        v
    }
    fn echo_option(v: Option<String>) -> Option<String> {
        v
    }
    fn echo_result(v: Result<u32, String>) -> Result<u32, String> {
        v
    }
    fn echo_flags(v: Perms) -> Perms {
        v
    }
    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
    fn describe(p: Point, c: Color) -> String {
        let color = match c {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
        };
        format!("{color} point ({}, {}) labelled {}", p.x, p.y, p.label)
    }
    fn fail(msg: String) -> Result<u32, String> {
        Err(msg)
    }
    fn spin() {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    fn count() -> u32 {
        CALLS.fetch_add(1, Ordering::Relaxed) + 1
    }
    fn grow(mib: u32) -> u32 {
        let mut hoard = HOARD.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..mib {
            hoard.push(vec![1u8; 1 << 20]);
        }
        hoard.len() as u32
    }
}

export!(Component);
