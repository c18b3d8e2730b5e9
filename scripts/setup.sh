#!/bin/sh
# Install what schelling needs to build, test and read its output, from
# Debian 12's packages (chromium: the HTML report test opens the page
# headless). Uses sudo when not run as root.
set -eu
packages="gcc meson ninja-build pkg-config libhdf5-dev hdf5-tools libyaml-dev
libcriterion-dev libopenmpi-dev openmpi-bin python3 python3-numpy python3-h5py
python3-matplotlib chromium"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
  --no-install-recommends $packages
