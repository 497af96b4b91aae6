//! Fails early, with instructions, when the system OpenBLAS is missing:
//! otherwise the first sign would be a page of linker errors.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // pkg-config's own report is several lines of its command line; the
    // instruction is what the reader needs.
    let found = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("openblas")
        .is_ok();
    if !found {
        eprintln!(
            "\nmnist-mlp needs the system OpenBLAS library, and pkg-config cannot find it. \
             On Debian or Ubuntu install it with `sudo apt-get install -y libopenblas-dev pkg-config`; \
             on Fedora `sudo dnf install openblas-devel pkgconf`; on Arch `sudo pacman -S openblas`. \
             Then build again.\n"
        );
        std::process::exit(1);
    }
}
