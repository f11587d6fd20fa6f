//! Hands freed heap back to the kernel. The caches are filled in bursts (initial lists,
//! relists, an apply wave over every backend) whose transient buffers end up between long-lived
//! entries, where glibc's allocator keeps the freed pages: after 1,000 backends settled the heap
//! held about 5 MiB more than was live. `malloc_trim` releases every whole free page, not only
//! the top of the heap, and costs a walk over the free chunks (well under a millisecond here).

use std::time::Duration;

/// How often the freed pages are returned.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Return the freed heap pages every `TRIM_INTERVAL` for the life of the process.
pub fn spawn_trimmer() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            trim();
        }
    });
}

/// Release the allocator's free pages now (glibc only; elsewhere nothing to do).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: malloc_trim takes no pointer, only the padding to keep, and is thread-safe (it
    // takes each arena's lock); it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Release the allocator's free pages now (glibc only; elsewhere nothing to do).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_after_a_burst_keeps_live_data_intact() {
        let burst: Vec<Vec<u8>> = (0..2_000).map(|i| vec![(i % 251) as u8; 4096]).collect();
        let kept: Vec<Vec<u8>> = burst.iter().step_by(7).cloned().collect();
        drop(burst);
        trim();
        assert!(
            kept.iter()
                .enumerate()
                .all(|(i, v)| v[4095] == ((i * 7) % 251) as u8)
        );
    }
}
