//! The once-per-batch barrier: nobody passes before everyone has arrived,
//! on the spinning path and on the sleeping one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mnist_mlp::internals::train::barrier::SpinBarrier;

/// `parties` threads meet `rounds` times; before each meeting every thread
/// counts itself in, after it every thread must see all of that round's
/// counts. `straggle` makes thread 0 late (long enough that the others give
/// up spinning and sleep) every that many rounds.
fn meet(parties: usize, rounds: usize, straggle: Option<usize>) {
    let barrier = SpinBarrier::new(parties);
    let arrived = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..parties {
            let (barrier, arrived) = (&barrier, &arrived);
            scope.spawn(move || {
                for round in 0..rounds {
                    if t == 0 && straggle.is_some_and(|every| round % every == 0) {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    arrived.fetch_add(1, Ordering::SeqCst);
                    barrier.wait();
                    let seen = arrived.load(Ordering::SeqCst);
                    assert!(
                        seen >= parties * (round + 1),
                        "thread {t} passed round {round} having seen {seen} arrivals"
                    );
                    // A second meeting per round, so nobody counts itself
                    // into the next round before all have checked this one.
                    barrier.wait();
                }
            });
        }
    });
    assert_eq!(arrived.load(Ordering::SeqCst), parties * rounds);
}

#[test]
fn nobody_passes_early_while_spinning() {
    meet(2, 20_000, None);
    meet(3, 5_000, None);
}

#[test]
fn sleepers_are_woken() {
    // Thread 0 is 2 ms late every 10 rounds: far past the spin, so the
    // others sleep on the condition variable and must be woken.
    meet(2, 200, Some(10));
    meet(4, 100, Some(7));
}

#[test]
fn a_party_of_one_never_waits() {
    let barrier = SpinBarrier::new(1);
    for _ in 0..1_000 {
        barrier.wait();
    }
}
