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

def flatten($d): if $d < 0 then error("flatten depth must not be negative")
  elif $d > 0 then map(if type == "array" then flatten($d - 1) else [.] end) | add // []
  else . end;

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
