# Definitions in jq that make jaq answer as libjq (jq 1.7/1.8 semantics), appended to jaq's prelude so
# that they shadow its own; each one is checked by the conformance test over jq's test files. Like jaq's
# own prelude they carry no budget steps: each loop runs over its input or over a generator that spends
# from the budget (`range`, the program's own code).

# `join`: null elements are empty, numbers and booleans their JSON text (jaq writes "null").
def join($x): reduce .[] as $i (null;
  (if . == null then "" else . + $x end) +
  ($i | if . == null then "" elif (type == "boolean" or type == "number") then tojson else . end)
) // "";

# `ltrimstr`, `rtrimstr`: an error for anything but strings (jq 1.8, #2969).
def ltrimstr($x):
  if type == "string" and ($x | type) == "string" then (if startswith($x) then .[($x | length):] end)
  else error("startswith() requires string inputs") end;
def rtrimstr($x):
  if type == "string" and ($x | type) == "string"
  then (if endswith($x) and ($x | length) > 0 then .[:length - ($x | length)] end)
  else error("endswith() requires string inputs") end;
def trimstr($x): ltrimstr($x) | rtrimstr($x);

# SQL-style helpers of libjq.
def IN(s): any(s == .; .);
def IN(src; s): any(src == s; .);
def INDEX(stream; idx_expr): reduce stream as $row ({}; .[$row | idx_expr | tostring] |= $row);
def INDEX(idx_expr): INDEX(.[]; idx_expr);
def JOIN($idx; idx_expr): [.[] | [., $idx[idx_expr]]];
def JOIN($idx; stream; idx_expr): stream | [., $idx[idx_expr]];
def JOIN($idx; stream; idx_expr; join_expr): stream | [., $idx[idx_expr]] | join_expr;

# Formats of libjq that jaq lacks.
def @csv:
  if type != "array" then error("\(type) (\(tojson)) cannot be csv-formatted, only an array can be")
  else map(
    if type == "number" or type == "boolean" then tojson
    elif type == "string" then "\"" + (split("\"") | join("\"\"")) + "\""
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a csv row") end
  ) | join(",") end;
def @tsv:
  if type != "array" then error("\(type) (\(tojson)) cannot be tsv-formatted, only an array can be")
  else map(
    if type == "number" or type == "boolean" then tojson
    elif type == "string" then split("\\") | join("\\\\") | split("\t") | join("\\t")
      | split("\r") | join("\\r") | split("\n") | join("\\n")
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a tsv row") end
  ) | join("\t") end;

# `flatten` splices nested arrays without recursing (`_ocean_flatten`, `mapping/deep.rs`).
def flatten($d): if $d < 0 then error("flatten depth must not be negative")
  elif type == "array" or type == "object" then _ocean_flatten($d)
  else [.[]] end;
def flatten: flatten(1e9);

# Deep values as libjq limits them (`mapping/deep.rs`): printing past 10,000 levels writes
# `<skipped: too deep>`; sorting and grouping compare at most 10,000 levels deep.
def tostring: _ocean_tostring;
# The formats that write values as text, and interpolation (printed as `@text "\(x)"` by the rewrite).
def @text: tostring;
def @html: tostring | escape_html;
def @uri: tostring | encode_uri;
def @base64: tostring | encode_base64;
def sort_by(f): _ocean_sort_keyed(map([f]));
def group_by(f): _ocean_group_keyed(map([f]));
def unique_by(f): [group_by(f)[] | .[0]];
def unique: unique_by(.);

# Paths as libjq updates them: `setpath` is a native (`mapping/setpath.rs`); `_ocean_slice` gives the
# bounds of a slice in an array of `$n` items, for `delpaths`.
def _ocean_slice($n): [
  (.start // 0 | if . < 0 then . + $n else . end | floor | if . < 0 then 0 elif . > $n then $n else . end),
  (.end // $n | if . < 0 then . + $n else . end | ceil | if . < 0 then 0 elif . > $n then $n else . end)
] | if .[1] < .[0] then [.[0], .[0]] else . end;
def setpath($p; $v): _ocean_setpath($p; $v);

# `delpaths` deletes every path at once, as libjq does: deeper paths first, then the keys of each level
# together, so that deleting one index does not shift the others; what is missing is left alone.
def _ocean_del_keys($ks):
  if . == null then null
  elif type == "object" then . as $o
    | reduce (keys_unsorted[] | select(. as $k | any($ks[]; . == $k) | not)) as $k ({}; . + {($k): $o[$k]})
  elif type == "array" then . as $a | length as $n
    | (reduce ($ks[] | if type == "number" then (if isnan then empty else floor | if . < 0 then . + $n else . end end)
        elif type == "object" then _ocean_slice($n) as [$s, $e] | range($s; $e)
        else error("Cannot delete field at \(type) index of array") end) as $d ({}; . + {($d | tostring): true})) as $drop
    | [range($n) | select($drop[tostring] | not) | $a[.]]
  else error("Cannot delete field at index of \(type)") end;
def _ocean_dels($ps):
  __tick |
  if . == null then null
  else reduce ($ps | map(select(length > 1)) | group_by(.[0]))[] as $g (.;
      $g[0][0] as $k | getpath([$k]) as $child
      | if $child == null then . else setpath([$k]; $child | _ocean_dels([$g[] | .[1:]])) end)
    | _ocean_del_keys([$ps[] | select(length == 1) | .[0]])
  end;
def delpaths($ps):
  if ($ps | type) != "array" then error("Paths must be specified as an array")
  elif $ps == [] then .
  elif any($ps[]; . == []) then null
  elif any($ps[]; length > 10000) then error("Path too deep")
  else _ocean_dels($ps) end;
def del(f): delpaths([path(f)]);
def pick(pathexps): . as $top | reduce path(pathexps) as $p (null; setpath($p; $top | getpath($p)));

# Assignments, as the rewrite prints them (`mapping/rewrite.rs`): `l = $v` and `l |= f`, where an `f` with
# no output deletes the path.
def _ocean_assign(paths; $v): reduce path(paths) as $p (.; setpath($p; $v));
def _ocean_modify(paths; update):
  reduce path(paths) as $p ([., []]; . as [$x, $del]
    | label $out | (($x | setpath($p; $x | getpath($p) | update)) as $y | [$y, $del] | ., break $out),
      [$x, $del + [$p]])
  | . as [$x, $del] | $x | delpaths($del);

def from_entries: reduce .[] as $x ({}; . + {
  ($x | if .key == null then .k // .name // .Name // .K // .Key else .key end
      | if type == "string" then . else tojson end):
  ($x | if has("value") then .value elif has("v") then .v elif has("Value") then .Value else .V end)
});

def tostream: path(def r: (.[]? | r), .; r) as $p | getpath($p) | reduce path(.[]?) as $q ([$p, .]; [$p + $q]);
def fromstream(f): { x: null, e: false } as $init
  | foreach f as $i ($init;
      if .e then $init else . end
      | if $i | length == 2
        then setpath(["e"]; $i[0] | length == 0) | setpath(["x"] + $i[0]; $i[1])
        else setpath(["e"]; $i[0] | length == 1) end;
      if .e then .x else empty end);
def truncate_stream(stream): . as $n | null | stream | . as $input
  | if (.[0] | length) > $n then setpath([0]; .[0][$n:]) else empty end;

def toboolean:
  if type == "boolean" then . elif . == "true" then true elif . == "false" then false
  else error("\(type) (\(tojson)) cannot be parsed as a boolean") end;

def utf8bytelength:
  if type == "string" then [explode[] | if . < 128 then 1 elif . < 2048 then 2 elif . < 65536 then 3 else 4 end] | add // 0
  else error("\(type) (\(tojson)) only strings have UTF-8 byte length") end;

# libjq's string search under `indices`, callable by its name.
def _strindices($i):
  if type != "string" then error("\(type) (\(tojson)) cannot be searched, as it is not a string")
  elif ($i | type) != "string" then error("\($i | type) (\($i | tojson)) is not a string")
  else indices($i) end;

# libjq's decoders: invalid input is an error with libjq's message; base64 needs no padding.
def @urid: tostring | _ocean_decode_uri;
def @base64d: tostring | _ocean_decode_base64;

# Negative counts are errors in libjq (1.8), not empty.
def _ocean_limit($n; f): limit($n; f);
def _ocean_skip($n; f): skip($n; f);
def limit($n; f): if $n < 0 then error("limit doesn't support negative count") else _ocean_limit($n; f) end;
def skip($n; f): if $n < 0 then error("skip doesn't support negative count") else _ocean_skip($n; f) end;
def nth($n; f): if $n < 0 then error("nth doesn't support negative indices") else first(skip($n; f)) end;

# `trim`, `ltrim`, `rtrim` of anything but a string: libjq's message.
def _ocean_trim: trim;
def _ocean_ltrim: ltrim;
def _ocean_rtrim: rtrim;
def trim: if type == "string" then _ocean_trim else error("trim input must be a string") end;
def ltrim: if type == "string" then _ocean_ltrim else error("trim input must be a string") end;
def rtrim: if type == "string" then _ocean_rtrim else error("trim input must be a string") end;

# `sub` and `gsub` whose replacement has several outputs give as many results as libjq does: the k-th
# made of the k-th output at every match (jaq's give every combination), put together by
# `_ocean_substituted` (`mapping/regex.rs`). The named groups of a match are read by a native.
def capture_of_match: _ocean_capture_of_match;
def capture(re; flags): matches(re; flags)[] | capture_of_match;
def sub(re; str; $flags): _ocean_substituted([split_matches(re; $flags)[] | if isarray then [capture_of_match | str] end]);
def sub(re; str): sub(re; str; "");
def gsub(re; str; $flags): sub(re; str; "g" + $flags);
def gsub(re; str): sub(re; str; "g");

# A regular expression given as `[re, flags]`, as libjq accepts it.
def _ocean_re_args($val):
  ($val | type) as $t
  | if $t == "string" then [$val, ""]
    elif $t == "array" and ($val | length) > 1 then [$val[0], $val[1] // ""]
    elif $t == "array" and ($val | length) > 0 then [$val[0], ""]
    else error($t + " not a string or array") end;
def match($val): _ocean_re_args($val) as [$re, $flags] | match($re; $flags);
def test($val): _ocean_re_args($val) as [$re, $flags] | test($re; $flags);
def capture($val): _ocean_re_args($val) as [$re, $flags] | capture($re; $flags);

# `"nan" | fromjson` is NaN in libjq.
def _ocean_fromjson: fromjson;
def fromjson: if . == "nan" or . == "NaN" then nan else _ocean_json_depth | _ocean_fromjson end;

# `implode` of what is not a code point gives U+FFFD; fractions are cut, as libjq does.
def _ocean_implode: implode;
def implode:
  if type != "array" then error("implode input must be an array")
  else map(if type != "number" then error("Unicode codepoint must be numeric")
    else tojson | sub("\\..*$"; "") | tonumber
      | if . < 0 or . > 1114111 or (. >= 55296 and . <= 57343) then 65533 else . end end)
  | _ocean_implode end;

# `tonumber` accepts a number written in full, as libjq 1.8 does: no leading or trailing text or spaces.
def tonumber: if type == "number" then . else _ocean_tonumber end;

# Broken-down times (`_ocean_broken_down`, a native): missing fields are zero; anything but numbers is
# libjq's error.
def _ocean_mktime: mktime;
def _ocean_strftime($f): strftime($f);
def _ocean_strflocaltime($f): strflocaltime($f);
def mktime: _ocean_broken_down("mktime") | _ocean_mktime;
def strftime($f):
  if ($f | type) != "string" then error("strftime/1 requires a string format")
  elif type == "number" then _ocean_strftime($f)
  else _ocean_broken_down("strftime/1") | _ocean_strftime($f) end;
def strflocaltime($f):
  if ($f | type) != "string" then error("strflocaltime/1 requires a string format")
  elif type == "number" then _ocean_strflocaltime($f)
  else _ocean_broken_down("strflocaltime/1") | _ocean_strflocaltime($f) end;

def _ocean_bsearch($t): bsearch($t);
def bsearch($t): if type == "array" then _ocean_bsearch($t) else error("\(type) (\(tojson)) cannot be searched from") end;

# Indices that are not integers, as the rewrite of `sugar.rs` wraps them: libjq rounds an index down,
# the start of a slice down and its end up; NaN selects nothing (a start or end of NaN is open). A NaN
# index is the largest integer, which selects nothing and which `setpath` refuses as libjq refuses NaN.
def _ocean_int: tojson | tonumber;
def _ocean_index(i): . as $c | i
  | if type != "number" or . == floor then .
    elif ($c | type) == "string" then error("Cannot index string with number (\(.))")
    elif isnan then 9223372036854775807
    else floor | _ocean_int end;
def _ocean_lo(i): i | if type == "number" and . != floor then (if isnan then null else floor | _ocean_int end) else . end;
def _ocean_hi(i): i | if type == "number" and . != floor then (if isnan then null else ceil | _ocean_int end) else . end;
def _ocean_has($k): has($k);
def has($k): if ($k | type) == "number" and ($k | isnan) then false else _ocean_has($k) end;

# Paths longer than libjq's limit.
def _ocean_getpath($p): getpath($p);
def getpath($p): if ($p | type) == "array" and ($p | length) > 10000 then error("Path too deep") else _ocean_getpath($p) end;
