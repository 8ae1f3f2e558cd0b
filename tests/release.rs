//! `app.artifact: build`: the binary modu builds for the instances runs on x86_64 Amazon
//! Linux 2023, whose glibc is 2.34 — it needs no symbol version above that, whatever glibc
//! the building machine has (scripts/release-tools.sh installs the toolchain).

mod support;

use support::repo_path;

/// `GLIBC_2.34` → (2, 34).
fn version_of(symbol: &str) -> Option<(u32, u32)> {
    let rest = symbol.strip_prefix("GLIBC_")?;
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    Some((major, minor))
}

#[test]
fn the_built_release_needs_no_glibc_above_2_34() {
    let started = std::time::Instant::now();
    let binary =
        modu::release::build(&repo_path(".")).expect("building modu-app for the instances");
    eprintln!(
        "built {} in {:.1}s",
        binary.display(),
        started.elapsed().as_secs_f64()
    );
    let output = std::process::Command::new("objdump")
        .arg("-T")
        .arg(&binary)
        .output()
        .expect("objdump (binutils, which building Rust on Linux needs)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8_lossy(&output.stdout);
    let versions: Vec<(u32, u32)> = table
        .split_whitespace()
        .filter_map(|word| version_of(word.trim_matches(|c| c == '(' || c == ')')))
        .collect();
    assert!(
        !versions.is_empty(),
        "a dynamically linked binary names glibc versions:\n{table}"
    );
    let highest = versions.iter().max().unwrap();
    assert!(
        *highest <= (2, 34),
        "modu-app needs GLIBC_{}.{}, above Amazon Linux 2023's 2.34",
        highest.0,
        highest.1
    );
}

#[test]
fn symbol_versions_are_read_as_numbers() {
    assert_eq!(version_of("GLIBC_2.34"), Some((2, 34)));
    assert_eq!(version_of("GLIBC_2.2.5"), Some((2, 2)));
    assert!(version_of("GLIBC_2.3.4") < version_of("GLIBC_2.34"));
    assert_eq!(version_of("GCC_3.0"), None);
}
