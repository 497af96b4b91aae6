//! The threads of a training pass pin themselves to distinct cores, and the
//! caller's thread gets its mask back afterwards.
#![cfg(target_os = "linux")]

use std::mem::{size_of, zeroed};

use mnist_mlp::internals::train::affinity::Cores;

fn allowed_cores() -> Vec<usize> {
    // SAFETY: a plain bit array of the size passed; pid 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

fn current_core() -> usize {
    // SAFETY: no arguments.
    unsafe { libc::sched_getcpu() as usize }
}

#[test]
fn each_thread_gets_a_core_of_its_own_then_the_mask_comes_back() {
    let before = allowed_cores();
    let cores = Cores::default();
    // As in a pass: the caller pins itself before spawning the others,
    // which inherit its single core and must still find cores of their own.
    let leader = cores.pin_here();
    assert!(leader.is_some());
    assert_eq!(allowed_cores(), vec![current_core()]);
    let leader_core = current_core();
    // One more thread than there are cores left (up to 4 more).
    let others = (before.len() - 1).min(4) + 1;
    let placed: Vec<Option<(Vec<usize>, usize)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..others)
            .map(|_| {
                scope.spawn(|| {
                    let pinned = cores.pin_here();
                    let seen = pinned.as_ref().map(|_| (allowed_cores(), current_core()));
                    // Hold the core until every thread has asked for one.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    seen
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    drop(leader);
    let pinned: Vec<_> = placed.iter().flatten().collect();
    // Every core but the caller's goes to one thread; the extra one stays
    // unpinned.
    assert_eq!(pinned.len(), others - 1, "{placed:?}");
    let mut cores_used: Vec<usize> = pinned
        .iter()
        .map(|(mask, core)| {
            assert_eq!(mask, &vec![*core], "pinned to exactly the core it runs on");
            *core
        })
        .collect();
    cores_used.push(leader_core);
    cores_used.sort();
    cores_used.dedup();
    assert_eq!(
        cores_used.len(),
        others,
        "two threads share a core: {placed:?}"
    );
    // The caller, released, has its whole mask back.
    assert_eq!(allowed_cores(), before);
}
