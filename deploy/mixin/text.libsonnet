// Words for the thresholds and durations that alert and panel texts quote, so
// the texts follow _config.
local units = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', y: 'year' };

// parts('15m') is { n: 15, unit: 'minute' }; null for a duration of several
// units ('1h30m'), which is then quoted as it is.
local parts(d) =
  local unit = d[std.length(d) - 1];
  local digits = d[:std.length(d) - 1];
  if std.objectHas(units, unit) && digits != '' && std.all([std.member('0123456789', c) for c in std.stringChars(digits)])
  then { n: std.parseInt(digits), unit: units[unit] }
  else null;

local plural(p) = if p.n == 1 then p.unit else '%d %ss' % [p.n, p.unit];

{
  // duration('1h') is 'an hour', duration('15m') is '15 minutes'.
  duration(d)::
    local p = parts(d);
    if p == null then d
    else if p.n == 1 then (if p.unit == 'hour' then 'an hour' else 'a ' + p.unit)
    else plural(p),

  // last('1h') is 'the last hour', last('2h') is 'the last 2 hours'.
  last(d)::
    local p = parts(d);
    'the last ' + (if p == null then d else plural(p)),

  // count(3) is 'three'; numbers past ten stay digits.
  count(n)::
    local names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
    if n >= 0 && n <= 10 && n == std.floor(n) then names[n] else std.toString(n),
}
