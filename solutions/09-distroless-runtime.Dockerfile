# Exercise 09-distroless-runtime: put another app on a root filesystem of your own.
#
# Lesson 09 built the classifier's runtime FROM scratch: Debian's python3.11 and the libraries it
# loads, unpacked from their packages into /rootfs, then the venv's site-packages, the model and
# the app. This is yamlstats (exercises/yamlstats/, the C extension that links libyaml, from
# exercises 03 to 05): its builder, and lesson 09's rootfs stage as it is.
# Goal: the last stage starts FROM scratch (no shell, no package manager), runs as UID 10001, and
# prints the sample's counts when run with no arguments (`python3 -m yamlstats
# samples/training.yaml` from /srv; the rootfs's interpreter is python3); and a scanner reading
# /var/lib/dpkg/status.d/ still finds every Debian package whose files the image holds.
#
# Checked from the repository root by `python -m workshop check 09-distroless-runtime`: it
# builds this file with exercises/yamlstats/ as the build context, looks for a shell and a package
# manager, imports yamlstats, runs the image, and reads the package records. Build it yourself with:
# docker build $BUILD_FLAGS -f exercises/09-distroless-runtime.Dockerfile -t yamlstats:distroless exercises/yamlstats
# Stuck? The hints are in exercises/README.md.

# Builder: the full image has gcc and libyaml's headers; pip compiles the extension into the venv.
FROM python:3.11-bookworm AS builder
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY . .
# The venv's installers go last: its site-packages ship, and a package manager must not.
RUN pip install --no-cache-dir . && pip uninstall -y pip setuptools

# The runtime's whole filesystem, in /rootfs: Debian's python3.11 and the libraries it and the
# venv's extensions load. `apt-get download` fetches the packages and `dpkg-deb --extract`
# unpacks them: no maintainer scripts, nothing that needs a shell later. Instead of dpkg's
# database, one file per package in var/lib/dpkg/status.d/ (its control fields and md5sums, the
# distroless convention): what vulnerability scanners and SBOM tools read to know what is inside.
FROM debian:bookworm-slim AS rootfs
WORKDIR /debs
# Python's own dependencies, without the interactive ones (readline, ncurses), sqlite, dbm and
# time zones (the app logs in UTC); libstdc++6 and libgcc-s1 for onnxruntime and tokenizers.
# Versions are the ones bookworm has today: the rootfs takes Debian's security updates (since
# 2026-06 those of Debian LTS, for a subset of packages: README, "Offline mode", on bookworm).
RUN set -eux; \
    apt-get update; \
    apt-get download \
        libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libffi8 libexpat1 libbz2-1.0 liblzma5 \
        libuuid1 libcrypt1 libpython3.11-minimal libpython3.11-stdlib python3.11-minimal \
        netbase media-types \
    ; \
    mkdir -p /rootfs/var/lib/dpkg/status.d; \
    for deb in *.deb; do \
        dpkg-deb --extract "$deb" /rootfs; \
        package=$(dpkg-deb --field "$deb" Package); \
        dpkg-deb --field "$deb" > "/rootfs/var/lib/dpkg/status.d/$package"; \
        dpkg-deb --control "$deb" "$package.control"; \
        cp "$package.control/md5sums" "/rootfs/var/lib/dpkg/status.d/$package.md5sums"; \
    done; \
    cp /etc/os-release /rootfs/etc/os-release; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /rootfs
# What a container never reads: documentation (but each package's copyright file: the licences
# the image is shipped under), glibc's character-set converters (iconv; Python has its own
# codecs), libstdc++'s helpers for the gdb debugger, the standard library's help texts, test
# support (modules and extensions) and 2to3, and the modules for the libraries left out above
# (sqlite, curses, readline, dbm, NIS): they cannot load here. Then the few files an image needs:
# python3 on PATH, the users and their lookup order, a /tmp anyone may write to.
RUN set -eux; \
    find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete; \
    rm -rf usr/share/man usr/share/info usr/share/lintian usr/lib/*-linux-gnu/gconv \
        usr/share/gcc usr/share/gdb \
        usr/lib/python3.11/pydoc_data usr/lib/python3.11/test usr/lib/python3.11/lib2to3 \
        usr/lib/python3.11/sqlite3 usr/lib/python3.11/curses; \
    for module in _test _ctypes_test _xxtestfuzz xxlimited _sqlite3 _curses readline _dbm nis; do \
        rm -f usr/lib/python3.11/lib-dynload/"$module"*.so; \
    done; \
    ln -s python3.11 usr/bin/python3; \
    mkdir -p etc tmp; \
    chmod 1777 tmp; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:10001:10001:app:/nonexistent:/sbin/nologin\n' > etc/passwd; \
    printf 'root:x:0:\napp:x:10001:\n' > etc/group; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > etc/nsswitch.conf
# Debian compiles the standard library to .pyc when it installs python3.11; unpacking skips that,
# so do it here with the rootfs' own python (without them every start would compile what it
# imports: most of a second). Beside each module (-b), so that its source can go, as in the venv.
RUN chroot /rootfs /usr/bin/python3.11 -m compileall -b -q /usr/lib/python3.11 \
    && find usr/lib/python3.11 -name '*.py' ! -type d -delete \
    && find usr/lib/python3.11 -name __pycache__ -type d -prune -exec rm -rf {} +

# BEGIN SOLUTION: what this app needs in the root filesystem that the classifier's did not
# yamlstats' extension loads libyaml-0.so.2 (`ldd` on its .so in the builder says so): Debian's
# libyaml-0-2, unpacked and recorded as the packages above are.
RUN set -eux; \
    cd /debs; \
    apt-get update; \
    apt-get download libyaml-0-2; \
    dpkg-deb --extract libyaml-0-2_*.deb /rootfs; \
    dpkg-deb --field libyaml-0-2_*.deb > /rootfs/var/lib/dpkg/status.d/libyaml-0-2; \
    dpkg-deb --control libyaml-0-2_*.deb libyaml-0-2.control; \
    cp libyaml-0-2.control/md5sums /rootfs/var/lib/dpkg/status.d/libyaml-0-2.md5sums; \
    rm -rf /var/lib/apt/lists/*
# END SOLUTION

# BEGIN SOLUTION: the runtime stage (the goal is at the top of this file)
FROM scratch
COPY --from=rootfs /rootfs /
# The venv's packages without its bin/python, which points at the builder's interpreter: the
# rootfs's python3 finds them through PYTHONPATH.
COPY --from=builder /opt/venv/lib/python3.11/site-packages /opt/venv/lib/python3.11/site-packages
ENV PATH=/usr/bin \
    PYTHONPATH=/opt/venv/lib/python3.11/site-packages \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /srv
COPY samples/ samples/
USER 10001:10001
ENTRYPOINT ["python3", "-m", "yamlstats"]
CMD ["samples/training.yaml"]
# END SOLUTION
