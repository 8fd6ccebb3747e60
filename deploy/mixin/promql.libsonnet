// PromQL fragments built from _config, so every expression names the
// exporter's metrics and selects its targets the same way.
{
  // new(config, matchers) builds the fragments for one consumer; matchers are
  // added to every selector (the dashboard's variables).
  new(config, matchers=[]):: {
    local selector = std.join(', ', [config.orphansSelector] + matchers),

    // series('up') is up{<selector>}.
    series(name):: '%s{%s}' % [name, selector],

    // metric('up') is <metricsNamespace>_orphan_db_sweep_up{<selector>}.
    metric(name):: self.series(self.name(name)),

    // name('up') is the bare metric name, for text that mentions it.
    name(name):: '%s_orphan_db_sweep_%s' % [config.metricsNamespace, name],

    // agg('max', ['kind'], e) is `max by (kind) (e)`, and keeps the cluster
    // label in front when the mixin watches several clusters.
    agg(op, labels, expr)::
      local by = (if config.showMultiCluster then [config.clusterLabel] else []) + labels;
      if by == [] then '%s(%s)' % [op, expr]
      else '%s by (%s) (%s)' % [op, std.join(', ', by), expr],
  },

  // equalityLabels reads the label="value" matchers of a selector: the labels
  // Prometheus gives absent(selector) itself, which absent(selector == 1)
  // loses. Regex and negative matchers name no single value and are skipped.
  equalityLabels(selector)::
    local matchers = [matcher(m) for m in splitOutsideQuotes(selector)];
    { [m.name]: std.parseJson(m.value) for m in matchers if m.op == '=' && std.startsWith(m.value, '"') },

  local trim(s) = std.stripChars(s, ' \t\n'),

  // matcher('job!="a"') is { name: 'job', op: '!=', value: '"a"' }.
  local matcher(m) =
    local eq = std.findSubstr('=', m);
    local i = if eq == [] then std.length(m) else eq[0];
    local negated = i > 0 && m[i - 1] == '!';
    local regex = i + 1 < std.length(m) && m[i + 1] == '~';
    {
      name: trim(m[:if negated then i - 1 else i]),
      op: (if negated then '!' else '') + '=' + (if regex then '~' else ''),
      value: trim(m[i + (if regex then 2 else 1):]),
    },

  // splitOutsideQuotes splits a selector at the commas between matchers,
  // leaving those inside quoted values alone.
  local splitOutsideQuotes(s) =
    local step(st, ch) =
      if st.quote != '' then
        st {
          cur+: ch,
          escaped: !st.escaped && ch == '\\',
          quote: if !st.escaped && ch == st.quote then '' else st.quote,
        }
      else if ch == ',' then st { parts+: [st.cur], cur: '' }
      else st { cur+: ch, quote: if std.member(['"', "'", '`'], ch) then ch else '' };
    local end = std.foldl(step, std.stringChars(s), { parts: [], cur: '', quote: '', escaped: false });
    [p for p in end.parts + [end.cur] if trim(p) != ''],
}
