#!/usr/bin/env bash
# Installs what --env-config=sc2 / sc2v2 need: the StarCraft II Linux binary, the SMAC and SMACv2 maps,
# and the smac / smacv2 packages (from their git repositories; neither is on PyPI).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash tools/install_sc2.sh [options]

Installs StarCraft II for Linux into $SC2PATH (default ~/StarCraftII), the SMAC and SMACv2 maps into
$SC2PATH/Maps/SMAC_Maps, and the smac and smacv2 packages with pip. The game download is skipped when
that version is installed, so it is safe to run again (e.g. to add a second game version).

Options:
  --version V       game version: 4.10 (default; SMACv2 and most recent SMAC results) or 4.6.2
                    (the SMAC paper's version; results are not comparable across versions)
  --sc2path DIR     install the game here instead of $SC2PATH or ~/StarCraftII
  --python BIN      Python whose pip installs the packages (default: .venv/bin/python if present, else python3)
  --smac-src SPEC   what pip installs smac from (default git+https://github.com/oxwhirl/smac.git; a local
                    clone's path works too)
  --smacv2-src SPEC the same for smacv2 (default git+https://github.com/oxwhirl/smacv2.git)
  --no-game         skip the game download
  --no-maps         skip the map downloads
  --no-packages     skip the pip installs
  -h, --help        show this help and exit

Disk: the game zip is downloaded next to $SC2PATH and unpacked there, so at the peak the zip and the
unpacked game (which is larger than the zip) are on disk together: more than twice the zip's size, which
is several GB. What stays is the unpacked game. The script reads the zip's size from the server and the
unpacked size from the zip, and stops with a message before a step the free space cannot hold.

Maps: smac and smacv2 both read maps from $SC2PATH/Maps/SMAC_Maps. SMAC's maps are installed first;
SMACv2's zip then adds the maps SMAC lacks (32x32_flat, 10gen_*) and replaces none of SMAC's (a SMAC map
of the same name in it that differs is reported and left out).

Packages: smac and smacv2 declare protobuf<3.21, which breaks TensorBoard (2.21 needs protobuf >= 6.31),
so they are installed without their dependencies, which are then installed by name with protobuf left
as it is; the adapters load StarCraft II's protocol with protobuf's pure-Python implementation.

Needs curl (or wget), unzip and, for the git defaults, git. By installing you accept the StarCraft II AI
and Machine Learning License (the zip password "iagreetotheeula" stands for that).
If the game lives elsewhere, export SC2PATH=/path/to/StarCraftII before training.
EOF
}

VERSION="4.10"
SC2_DIR="${SC2PATH:-$HOME/StarCraftII}"
PYTHON=""
SMAC_SRC="git+https://github.com/oxwhirl/smac.git"
SMACV2_SRC="git+https://github.com/oxwhirl/smacv2.git"
INSTALL_GAME=1
INSTALL_MAPS=1
INSTALL_PACKAGES=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --version) VERSION="${2:?--version needs a value}"; shift 2 ;;
    --sc2path) SC2_DIR="${2:?--sc2path needs a value}"; shift 2 ;;
    --python) PYTHON="${2:?--python needs a value}"; shift 2 ;;
    --smac-src) SMAC_SRC="${2:?--smac-src needs a value}"; shift 2 ;;
    --smacv2-src) SMACV2_SRC="${2:?--smacv2-src needs a value}"; shift 2 ;;
    --no-game) INSTALL_GAME=0; shift ;;
    --no-maps) INSTALL_MAPS=0; shift ;;
    --no-packages) INSTALL_PACKAGES=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install_sc2.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

SC2_DIR="$(realpath -m "$SC2_DIR")"

case "$VERSION" in
  4.10) ZIP="SC2.4.10.zip"; BUILD="75689" ;;
  4.6.2) ZIP="SC2.4.6.2.69232.zip"; BUILD="69232" ;;
  *) echo "install_sc2.sh: --version must be 4.10 or 4.6.2, got '$VERSION'" >&2; exit 2 ;;
esac

GAME_URL="https://blzdistsc2-a.akamaihd.net/Linux/$ZIP"
SMAC_MAPS_URL="https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip"
SMACV2_MAPS_URL="https://github.com/oxwhirl/smacv2/releases/download/maps/SMAC_Maps.zip"
MAP_DIR="$SC2_DIR/Maps/SMAC_Maps"

existing_dir() {  # the nearest folder of $1 that exists (itself or a parent)
  local d="$1"
  while [[ ! -d "$d" ]]; do d="$(dirname "$d")"; done
  echo "$d"
}

gb() { awk -v b="$1" 'BEGIN { printf "%.1f GB", b / 1e9 }'; }

need_space() {  # need_space BYTES WHAT: stop unless the filesystem of $SC2_DIR has BYTES free
  local where free
  where="$(existing_dir "$SC2_DIR")"
  free=$(( $(df -Pk "$where" | awk 'NR == 2 { print $4 }') * 1024 ))
  if (( free < $1 )); then
    echo "install_sc2.sh: not enough free disk in $where for $2: $(gb "$1") needed, $(gb "$free") free." >&2
    echo "Free some space there, or install elsewhere with --sc2path DIR (then export SC2PATH=DIR)." >&2
    exit 1
  fi
}

remote_size() {  # remote_size URL: the size the server gives for URL in bytes, empty if it gives none
  if command -v curl >/dev/null 2>&1; then
    curl -sIL "$1" | tr -d '\r' | awk 'tolower($1) == "content-length:" { n = $2 } END { print n }'
  else
    wget -q -S --spider "$1" 2>&1 | tr -d '\r' | awk 'tolower($1) == "content-length:" { n = $2 } END { print n }'
  fi
}

download() {  # download URL FILE
  echo "  downloading $1"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --progress-bar -o "$2" "$1"
  else
    wget -q --show-progress -O "$2" "$1"
  fi
}

if [[ "$INSTALL_GAME" == 1 || "$INSTALL_MAPS" == 1 ]]; then
  mkdir -p "$(dirname "$SC2_DIR")"
  # The work folder sits beside the game, on its filesystem: the unpacked game is moved, not copied.
  WORK="$(mktemp -d "$(dirname "$SC2_DIR")/.install_sc2.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
fi

install_maps() {  # install_maps URL NAME KEEP: copy each .SC2Map of the zip into $MAP_DIR; KEEP=1 keeps
  local zip="$WORK/$2.zip" out="$WORK/$2" map name  # a map already there (KEEP=0 replaces it)
  download "$1" "$zip"
  unzip -q -o "$zip" -d "$out"
  while IFS= read -r -d '' map; do
    name="$(basename "$map")"
    if [[ "$3" == 0 || ! -e "$MAP_DIR/$name" ]]; then
      cp -f "$map" "$MAP_DIR/$name"
    elif ! cmp -s "$map" "$MAP_DIR/$name"; then
      echo "  left out $2's $name: it differs from the one in $MAP_DIR, which stays"
    fi
  done < <(find "$out" -name '*.SC2Map' -print0)
  rm -rf "$zip" "$out"
}

if [[ "$INSTALL_GAME" == 1 ]]; then
  if [[ -f "$SC2_DIR/Versions/Base$BUILD/SC2_x64" ]]; then
    echo "StarCraft II $VERSION (Base$BUILD) is already in $SC2_DIR; skipping the download."
  else
    echo "Installing StarCraft II $VERSION into $SC2_DIR"
    zip_bytes="$(remote_size "$GAME_URL")"
    if [[ -n "$zip_bytes" ]]; then
      need_space $(( 2 * zip_bytes )) "the $(gb "$zip_bytes") zip and the game unpacked from it (more than the zip)"
    fi
    download "$GAME_URL" "$WORK/$ZIP"
    unpacked_bytes="$(unzip -Zt "$WORK/$ZIP" | awk '{ print $3 }')"
    need_space "$unpacked_bytes" "the unpacked game, beside its zip"
    unzip -q -P iagreetotheeula "$WORK/$ZIP" -d "$WORK/game"
    rm -f "$WORK/$ZIP"
    # Move (not copy) the files into $SC2_DIR, which may hold other versions or maps already.
    (cd "$WORK/game/StarCraftII" && find . -type d -exec mkdir -p "$SC2_DIR/{}" \; \
      && find . ! -type d -exec mv -f {} "$SC2_DIR/{}" \;)
  fi
fi

if [[ "$INSTALL_MAPS" == 1 ]]; then
  mkdir -p "$MAP_DIR"
  echo "Installing the SMAC maps into $MAP_DIR"
  install_maps "$SMAC_MAPS_URL" smac_maps 0
  echo "Adding the SMACv2 maps to $MAP_DIR"
  install_maps "$SMACV2_MAPS_URL" smacv2_maps 1
  if [[ ! -f "$MAP_DIR/32x32_flat.SC2Map" ]]; then
    echo "install_sc2.sh: $MAP_DIR/32x32_flat.SC2Map is missing after the SMACv2 maps download" >&2
    exit 1
  fi
fi

if [[ "$INSTALL_PACKAGES" == 1 ]]; then
  if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=".venv/bin/python"; else PYTHON="python3"; fi
  fi
  echo "Installing smac and smacv2 (without their protobuf<3.21 pin) and pysc2 with $PYTHON -m pip"
  "$PYTHON" -m pip install --no-deps "$SMAC_SRC" "$SMACV2_SRC"
  # Their other dependencies, by name; protobuf stays as it is (pysc2 and s2clientprotocol accept any).
  echo "(pip may then report that smac and smacv2 require protobuf<3.21: expected, see --help)"
  "$PYTHON" -m pip install "pysc2>=3.0.0" "s2clientprotocol>=4.10.1.75800.0" "absl-py>=0.1.0" "numpy>=1.10" \
    "pygame>=2.0.0"
  for package in smac smacv2; do  # one process each: importing both registers their maps twice
    PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python "$PYTHON" -c "import $package.env" \
      || { echo "install_sc2.sh: 'import $package.env' fails with $PYTHON (see above)" >&2; exit 1; }
  done
fi

echo
echo "Done:"
if [[ "$INSTALL_GAME" == 1 ]]; then
  echo "  game:     $SC2_DIR/Versions/Base$BUILD (StarCraft II $VERSION)"
fi
if [[ "$INSTALL_MAPS" == 1 ]]; then
  echo "  maps:     $(find "$MAP_DIR" -name '*.SC2Map' | wc -l) files in $MAP_DIR"
fi
if [[ "$INSTALL_PACKAGES" == 1 ]]; then
  echo "  packages: smac, smacv2 and their dependencies, importable with $PYTHON"
fi
if [[ "$SC2_DIR" != "$HOME/StarCraftII" ]]; then
  echo "  Set SC2PATH before training: export SC2PATH=$SC2_DIR"
fi
echo "Try: python src/main.py --config=qmix --env-config=sc2 with env_args.map_name=3m"
