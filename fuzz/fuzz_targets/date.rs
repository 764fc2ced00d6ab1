//! `http_date`: an IMF-fixdate whose fields are in range and name the same
//! second, read back with a day count written independently.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use monocle_http::http_date;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fuzz_target!(|secs: u64| {
    let Some(time) = UNIX_EPOCH.checked_add(Duration::from_secs(secs)) else {
        return;
    };
    let text = http_date(time);
    assert_eq!(text.len(), 29, "{text:?}");
    let day_name = &text[..3];
    let day: u64 = text[5..7].parse().unwrap();
    let month = MONTHS.iter().position(|&m| m == &text[8..11]).unwrap() as u64 + 1;
    let year: u64 = text[12..16].parse().unwrap();
    let (h, m, s): (u64, u64, u64) = (
        text[17..19].parse().unwrap(),
        text[20..22].parse().unwrap(),
        text[23..25].parse().unwrap(),
    );
    assert_eq!(&text[25..], " GMT");
    assert!(
        (1..=31).contains(&day) && h < 24 && m < 60 && s < 60,
        "{text:?}"
    );
    assert_eq!(DAYS[(secs / 86_400 % 7) as usize], day_name, "{text:?}");
    assert_eq!(h * 3600 + m * 60 + s, secs % 86_400);
    if year < 9999 {
        assert_eq!(days_from_civil(year, month, day), secs / 86_400, "{text:?}");
    }
});

/// Days since 1970-01-01, counted year by year and month by month.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let full_cycles = (year - 1970) / 400;
    let mut days = full_cycles * 146_097;
    for y in 1970 + full_cycles * 400..year {
        days += if leap(y) { 366 } else { 365 };
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days + lengths[..(month - 1) as usize].iter().sum::<u64>() + day - 1
}
