//! The two forms of the input layer's forward product (x·wᵀ into (B, H), or
//! w·xᵀ into (H, B)): both right, each thread-invariant, the choice fixed
//! by the kernels' name and the shape so that a run is reproducible.

use crate::common;

use common::{reference, synthetic_mnist, values};
use mnist_mlp::internals::blas::{core_name, verify_product};
use mnist_mlp::internals::nn::arch::Hidden;
use mnist_mlp::internals::nn::gemm::{product_abt, Form};
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::train::{TrainConfig, Trainer};
use ndarray::Array2;

#[test]
fn both_forms_compute_the_product_at_the_steps_shapes() {
    // The input layer's slices at batches 20 and 128, H 30, 90 and 1024.
    let mut identical = Vec::new();
    for (b, k, h) in [
        (20, 392, 30),
        (20, 392, 90),
        (128, 392, 90),
        (128, 392, 1024),
        (7, 392, 30),
    ] {
        let x = values(b, k, 0x9E37_79B9_7F4A_7C15 ^ (b * k * h) as u64);
        let w = values(h, k, 0x2545_F491_4F6C_DD1D);
        let mut direct = Array2::zeros((b, h));
        product_abt(Form::Direct, &x.view(), &w.view(), &mut direct.view_mut());
        let mut transposed = Array2::zeros((h, b));
        product_abt(
            Form::Transposed,
            &x.view(),
            &w.view(),
            &mut transposed.view_mut(),
        );
        verify_product(x.view(), w.t(), direct.view()).unwrap();
        verify_product(x.view(), w.t(), transposed.t()).unwrap();
        if direct == transposed.t() {
            identical.push(format!("{b}x{k}x{h}"));
        }
    }
    // Which shapes the two forms round alike on depends on the kernels;
    // the run's form comes from a table, so either way it is reproducible.
    eprintln!(
        "{} kernels: the forms gave identical bits at {:?}",
        core_name(),
        identical
    );
}

/// Two epochs with the input layer's forward product in `form`.
fn trained(threads: usize, form: Form, hidden: &[usize]) -> (Params, Vec<u64>) {
    let data = synthetic_mnist(410, 10);
    let config = TrainConfig {
        threads,
        hidden: Hidden(hidden.to_vec()),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, &data.train).unwrap();
    trainer.force_input_form(form);
    assert_eq!(trainer.input_form(), form);
    let losses = (0..2)
        .map(|_| trainer.train_epoch(&data.train, &mut ()).loss_sum.to_bits())
        .collect();
    (trainer.params, losses)
}

#[test]
fn each_form_gives_the_same_bits_on_one_thread_and_two() {
    for form in [Form::Direct, Form::Transposed] {
        for hidden in [&[30][..], &[64, 32]] {
            let one = trained(1, form, hidden);
            let two = trained(2, form, hidden);
            assert!(
                one == two,
                "{form:?} at {hidden:?}: one and two threads differ"
            );
        }
    }
}

#[test]
fn the_forms_train_alike() {
    let (direct, direct_losses) = trained(1, Form::Direct, &[30]);
    let (transposed, transposed_losses) = trained(1, Form::Transposed, &[30]);
    let largest = reference::tensors(&direct)
        .iter()
        .zip(reference::tensors(&transposed))
        .flat_map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f64::max);
    assert!(largest < 1e-3, "weights differ by {largest}");
    for (d, t) in direct_losses.iter().zip(&transposed_losses) {
        let (d, t) = (f64::from_bits(*d), f64::from_bits(*t));
        assert!((d - t).abs() <= 1e-4 * d.abs(), "losses {d} and {t}");
    }
}

#[test]
fn the_form_is_a_function_of_the_kernels_and_the_block() {
    // AVX-512 kernels: direct for the tutorial's small blocks, transposed
    // from a block of 1 500 floats.
    for kernels in ["SkylakeX", "Cooperlake", "SapphireRapids"] {
        assert_eq!(Form::input_forward_for(kernels, 20, 30), Form::Direct);
        assert_eq!(Form::input_forward_for(kernels, 20, 74), Form::Direct);
        assert_eq!(Form::input_forward_for(kernels, 20, 75), Form::Transposed);
        assert_eq!(
            Form::input_forward_for(kernels, 128, 1000),
            Form::Transposed
        );
    }
    for kernels in ["Haswell", "Zen"] {
        assert_eq!(Form::input_forward_for(kernels, 20, 30), Form::Direct);
        assert_eq!(Form::input_forward_for(kernels, 128, 1000), Form::Direct);
    }
    let data = synthetic_mnist(40, 10);
    for hidden in [30, 90] {
        let config = TrainConfig {
            hidden: Hidden(vec![hidden]),
            ..TrainConfig::default()
        };
        let trainer = Trainer::new(config, &data.train).unwrap();
        assert_eq!(
            trainer.input_form(),
            Form::input_forward_for(&core_name(), 20, hidden)
        );
    }
}
