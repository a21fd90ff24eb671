#!/usr/bin/env bash
# Every relative link in README.md, CHANGELOG.md and docs/*.md names a file
# or folder of the tree (links in fenced code blocks are code, not links).
set -euo pipefail
root=${1:?source dir}
cd "$root"
status=0
for doc in README.md CHANGELOG.md docs/*.md; do
  dir=$(dirname "$doc")
  # Strip fenced blocks and inline code spans, then print each link target.
  while IFS=$'\t' read -r line target; do
    case "$target" in
      http://* | https://* | mailto:* | '#'*) continue ;;
    esac
    path=${target%%#*}
    [[ -z "$path" ]] && continue
    if [[ ! -e "$dir/$path" ]]; then
      echo "$doc:$line: broken link: $target"
      status=1
    fi
  done < <(awk '
    /^```/ { fenced = !fenced; next }
    fenced { next }
    {
      text = $0
      gsub(/`[^`]*`/, "", text)
      while (match(text, /\]\([^) ]+\)/)) {
        printf "%d\t%s\n", NR, substr(text, RSTART + 2, RLENGTH - 3)
        text = substr(text, RSTART + RLENGTH)
      }
    }' "$doc")
done
if [[ $status -eq 0 ]]; then
  echo "every relative link resolves"
fi
exit $status
