//! The buffers the products read start on a cache line, and placing them
//! there changes no number.

use mnist_mlp::internals::nn::aligned::{self, CACHE_LINE};
use mnist_mlp::internals::nn::arch::Init;
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::nn::workspace::Workspace;
use ndarray::{s, Array1, Array2};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn starts_a_line(m: &Array2<f32>) -> bool {
    (m.as_ptr() as usize).is_multiple_of(CACHE_LINE)
}

#[test]
fn aligned_zeros_start_on_a_line_whatever_came_before() {
    // Allocations of odd sizes in between move where the next one lands.
    let mut keep = Vec::new();
    for (i, shape) in [(20, 784), (1, 1), (30, 784), (7, 13), (128, 1024)]
        .into_iter()
        .enumerate()
    {
        keep.push(vec![0u8; 1 + 5 * i]);
        let m = aligned::zeros(shape);
        assert!(starts_a_line(&m), "{shape:?} at {:p}", m.as_ptr());
        assert_eq!(m.dim(), shape);
        assert!(m.is_standard_layout());
        assert!(m.iter().all(|&v| v == 0.0));
    }
}

#[test]
fn realign_moves_a_matrix_to_a_line_and_keeps_its_numbers() {
    // One float past the start of its Vec, which the allocator aligns to
    // 16 bytes: 4 bytes past that is never on a line.
    let len = 30 * 784;
    let storage = Array1::from_iter((0..len + 1).map(|i| i as f32));
    let mut m = storage
        .slice_move(s![1..])
        .into_shape_with_order((30, 784))
        .unwrap();
    assert!(!starts_a_line(&m));
    let before = m.clone();
    aligned::realign(&mut m);
    assert!(starts_a_line(&m));
    assert_eq!(m, before);
    let at = m.as_ptr();
    aligned::realign(&mut m);
    assert_eq!(m.as_ptr(), at, "an aligned matrix is left where it is");
}

#[test]
fn drawn_weights_and_workspaces_start_on_a_line() {
    let sizes = [784, 90, 64, 10];
    let params = Params::new(&sizes, Init::Kaiming, &mut StdRng::seed_from_u64(3));
    assert!(params.layers.iter().all(|l| starts_a_line(&l.w)));
    let ws = Workspace::new(20, &sizes, true);
    assert!(starts_a_line(&ws.x));
    assert!(ws
        .hidden
        .iter()
        .all(|h| starts_a_line(&h.a) && starts_a_line(&h.dz)));
}

#[test]
fn weights_are_drawn_in_the_order_they_always_were() {
    // Row-major, every weight matrix before any bias: the order the
    // default run's figures depend on.
    let sizes = [784, 30, 10];
    let params = Params::new(&sizes, Init::Random, &mut StdRng::seed_from_u64(7));
    let mut rng = StdRng::seed_from_u64(7);
    let mut draw = || {
        <rand_distr::StandardNormal as rand_distr::Distribution<f32>>::sample(
            &rand_distr::StandardNormal,
            &mut rng,
        )
    };
    let w0 = Array2::from_shape_simple_fn((30, 784), &mut draw);
    let w1 = Array2::from_shape_simple_fn((10, 30), &mut draw);
    let b0 = Array1::from_shape_simple_fn(30, &mut draw);
    assert_eq!(params.layers[0].w, w0 * Init::Random.weight_scale(784, 30));
    assert_eq!(params.layers[1].w, w1 * Init::Random.weight_scale(30, 10));
    assert_eq!(params.layers[0].b, b0);
}
