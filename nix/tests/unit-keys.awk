# Prints a unit file as "Section.Key#N=value" lines, N counting the
# repeats of a key; sorted, two files compare key by key whatever their
# layout and order of keys.
/^[[:space:]]*([#;].*)?$/ { next }
/^\[.*\]$/ { section = substr($0, 2, length($0) - 2); next }
{
  i = index($0, "=")
  key = section "." substr($0, 1, i - 1)
  n[key]++
  print key "#" n[key] "=" substr($0, i + 1)
}
