#!/usr/bin/env bash
# Installs what `app.artifact: build` needs to build modu-app for the instances (x86_64
# Amazon Linux 2023, glibc 2.34), each only when missing: zig (the ziglang package from
# PyPI, a self-contained toolchain) as the C compiler and linker, and cargo-zigbuild, which
# points cargo at it with the target's glibc version. Pinned, so every machine builds alike.
set -euo pipefail

ZIGLANG_VERSION=0.15.2
CARGO_ZIGBUILD_VERSION=0.24.1

if ! python3 -m ziglang version >/dev/null 2>&1; then
    echo "release-tools: installing ziglang ${ZIGLANG_VERSION}" >&2
    python3 -m pip install -q "ziglang==${ZIGLANG_VERSION}"
fi
if ! cargo-zigbuild --version >/dev/null 2>&1; then
    echo "release-tools: installing cargo-zigbuild ${CARGO_ZIGBUILD_VERSION}" >&2
    cargo install --quiet --locked cargo-zigbuild --version "${CARGO_ZIGBUILD_VERSION}"
fi
