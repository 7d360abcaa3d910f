#!/usr/bin/env bash
# Installs what --env-config=sc2 / sc2v2 need: the StarCraft II Linux binary, the SMAC and SMACv2 maps,
# and the smac / smacv2 packages (from their git repositories; neither is on PyPI).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash scripts/install_sc2.sh [options]

Installs StarCraft II for Linux into $SC2PATH (default ~/StarCraftII), the SMAC maps and the SMACv2 map
(32x32_flat) into $SC2PATH/Maps/SMAC_Maps, and the smac and smacv2 packages with pip. Steps already done
are skipped, so it is safe to run again (e.g. to add a second game version).

Options:
  --version V     game version: 4.10 (default; SMACv2 and most recent SMAC results) or 4.6.2
                  (the SMAC paper's version; results are not comparable across versions)
  --sc2path DIR   install the game here instead of $SC2PATH or ~/StarCraftII
  --python BIN    Python whose pip installs the packages (default: .venv/bin/python if present, else python3)
  --no-game       skip the game download (maps and packages only)
  --no-packages   skip the pip installs (game and maps only)
  -h, --help      show this help and exit

Needs wget (or curl), unzip, git and about 4 GB of disk for 4.10. By installing you accept the
StarCraft II AI and Machine Learning License (the zip password "iagreetotheeula" stands for that).
If the game lives elsewhere, export SC2PATH=/path/to/StarCraftII before training.
EOF
}

VERSION="4.10"
SC2_DIR="${SC2PATH:-$HOME/StarCraftII}"
PYTHON=""
INSTALL_GAME=1
INSTALL_PACKAGES=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --version) VERSION="${2:?--version needs a value}"; shift 2 ;;
    --sc2path) SC2_DIR="${2:?--sc2path needs a value}"; shift 2 ;;
    --python) PYTHON="${2:?--python needs a value}"; shift 2 ;;
    --no-game) INSTALL_GAME=0; shift ;;
    --no-packages) INSTALL_PACKAGES=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install_sc2.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

case "$VERSION" in
  4.10) ZIP="SC2.4.10.zip"; BUILD="75689" ;;
  4.6.2) ZIP="SC2.4.6.2.69232.zip"; BUILD="69232" ;;
  *) echo "install_sc2.sh: --version must be 4.10 or 4.6.2, got '$VERSION'" >&2; exit 2 ;;
esac

GAME_URL="https://blzdistsc2-a.akamaihd.net/Linux/$ZIP"
SMAC_MAPS_URL="https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip"
SMACV2_MAPS_URL="https://github.com/oxwhirl/smacv2/releases/download/maps/SMAC_Maps.zip"
SMAC_GIT="git+https://github.com/oxwhirl/smac.git"
SMACV2_GIT="git+https://github.com/oxwhirl/smacv2.git"
MAP_DIR="$SC2_DIR/Maps/SMAC_Maps"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

download() {  # download URL FILE
  echo "  downloading $1"
  if command -v wget >/dev/null 2>&1; then
    wget -q --show-progress -O "$2" "$1"
  else
    curl -fL --progress-bar -o "$2" "$1"
  fi
}

install_maps() {  # install_maps URL NAME: copy every .SC2Map in the zip into $MAP_DIR
  local zip="$WORK/$2.zip" out="$WORK/$2"
  download "$1" "$zip"
  unzip -q -o "$zip" -d "$out"
  find "$out" -name '*.SC2Map' -exec cp -f {} "$MAP_DIR/" \;
}

if [[ "$INSTALL_GAME" == 1 ]]; then
  if [[ -f "$SC2_DIR/Versions/Base$BUILD/SC2_x64" ]]; then
    echo "StarCraft II $VERSION (Base$BUILD) is already in $SC2_DIR; skipping the download."
  else
    echo "Installing StarCraft II $VERSION into $SC2_DIR"
    download "$GAME_URL" "$WORK/$ZIP"
    unzip -q -P iagreetotheeula "$WORK/$ZIP" -d "$WORK/game"
    rm -f "$WORK/$ZIP"
    mkdir -p "$SC2_DIR"
    cp -a "$WORK/game/StarCraftII/." "$SC2_DIR/"
    rm -rf "$WORK/game"
  fi
fi

mkdir -p "$MAP_DIR"
echo "Installing the SMAC maps into $MAP_DIR"
install_maps "$SMAC_MAPS_URL" smac_maps
echo "Installing the SMACv2 maps into $MAP_DIR"
install_maps "$SMACV2_MAPS_URL" smacv2_maps
if [[ ! -f "$MAP_DIR/32x32_flat.SC2Map" ]]; then
  echo "install_sc2.sh: $MAP_DIR/32x32_flat.SC2Map is missing after the SMACv2 maps download" >&2
  exit 1
fi

if [[ "$INSTALL_PACKAGES" == 1 ]]; then
  if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=".venv/bin/python"; else PYTHON="python3"; fi
  fi
  echo "Installing smac, smacv2 and protobuf<3.21 with $PYTHON -m pip"
  # smacv2 pins protobuf<3.21 (s2clientprotocol's generated code needs it). With a newer protobuf the
  # adapters set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python instead, which works but is slower.
  "$PYTHON" -m pip install "smac @ $SMAC_GIT" "smacv2 @ $SMACV2_GIT" "protobuf<3.21"
fi

echo
echo "Done:"
if [[ "$INSTALL_GAME" == 1 ]]; then
  echo "  game:     $SC2_DIR/Versions/Base$BUILD (StarCraft II $VERSION)"
fi
echo "  maps:     $(find "$MAP_DIR" -name '*.SC2Map' | wc -l) files in $MAP_DIR"
if [[ "$INSTALL_PACKAGES" == 1 ]]; then
  echo "  packages: smac, smacv2, protobuf<3.21 (via $PYTHON)"
fi
if [[ "$SC2_DIR" != "$HOME/StarCraftII" ]]; then
  echo "  Set SC2PATH before training: export SC2PATH=$SC2_DIR"
fi
echo "Try: python src/main.py --config=qmix --env-config=sc2 with env_args.map_name=3m"
