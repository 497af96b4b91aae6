//! Fails early, with instructions, when the system OpenBLAS is missing:
//! otherwise the first sign would be a page of linker errors.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(e) = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("openblas")
    {
        eprintln!(
            "\nmnist-mlp needs the system OpenBLAS library, and pkg-config cannot find it ({e}). \
             On Debian or Ubuntu install it with `sudo apt-get install -y libopenblas-dev pkg-config`; \
             on Fedora `sudo dnf install openblas-devel pkgconf`; on Arch `sudo pacman -S openblas`. \
             Then build again.\n"
        );
        std::process::exit(1);
    }
}
