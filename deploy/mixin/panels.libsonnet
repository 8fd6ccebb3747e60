// Grafana panels and variables as plain objects, and the layout that places
// them. Panels know only their size; layout computes where they go, so adding
// one moves the rest along. Empty lists and objects are left out: Grafana
// fills them in, and the rendered JSON stays free of them.
local datasource = { type: 'prometheus', uid: '${datasource}' };

local target(expr, legend, refId) = { datasource: datasource, expr: expr, legendFormat: legend, refId: refId };

local thresholds(steps) = { mode: 'absolute', steps: steps };

{
  // Threshold steps: all green, green then red from a value, red then green.
  green:: thresholds([{ color: 'green', value: null }]),
  redFrom(v):: thresholds([{ color: 'green', value: null }, { color: 'red', value: v }]),
  greenFrom(v):: thresholds([{ color: 'red', value: null }, { color: 'green', value: v }]),

  // valueText({ '0': ['off', 'orange'] }) shows value 0 as an orange "off".
  valueText(texts):: [{
    type: 'value',
    options: { [v]: { text: texts[v][0], color: texts[v][1] } for v in std.objectFields(texts) },
  }],

  row(title):: { type: 'row', title: title, collapsed: false, gridPos: { h: 1, w: 24 } },

  // stat shows one instant value.
  stat(title, description, expr, unit, thresholds, mappings=[]):: {
    type: 'stat',
    title: title,
    description: description,
    datasource: datasource,
    gridPos: { h: 4, w: 4 },
    targets: [target(expr, '', 'A') { instant: true, range: false }],
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'none',
      textMode: 'auto',
      justifyMode: 'auto',
      orientation: 'auto',
    },
    fieldConfig: { defaults: { unit: unit, thresholds: thresholds, [if mappings != [] then 'mappings']: mappings } },
  },

  // timeseries plots queries given as [expr, legend] pairs. threshold draws a
  // red line where an alert fires; dashed is a regex of legends drawn dashed.
  timeseries(title, description, unit, queries, w=8, threshold=null, bars=false, dashed=null):: {
    type: 'timeseries',
    title: title,
    description: description,
    datasource: datasource,
    gridPos: { h: 8, w: w },
    targets: [target(queries[i][0], queries[i][1], std.char(std.codepoint('A') + i)) for i in std.range(0, std.length(queries) - 1)],
    options: {
      legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'], showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    fieldConfig: {
      defaults: {
        unit: unit,
        min: 0,
        custom: {
          drawStyle: if bars then 'bars' else 'line',
          lineWidth: 1,
          fillOpacity: 10,
          showPoints: 'never',
          stacking: { mode: 'none', group: 'A' },
          [if threshold != null then 'thresholdsStyle']: { mode: 'line' },
        },
        thresholds: if threshold == null then $.green else $.redFrom(threshold),
      },
      [if dashed != null then 'overrides']: [{
        matcher: { id: 'byRegexp', options: dashed },
        properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }],
      }],
    },
  },

  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    hide: 0,
    refresh: 1,
    regex: '',
    includeAll: false,
    multi: false,
  },

  // queryVariable lists the values of label among the series selected.
  queryVariable(name, label, series, valuesOf):: {
    local query = 'label_values(%s, %s)' % [series, valuesOf],
    name: name,
    label: label,
    type: 'query',
    datasource: datasource,
    query: query,
    definition: query,
    // On time range change: installations come and go.
    refresh: 2,
    sort: 1,
    hide: 0,
    regex: '',
    includeAll: false,
    multi: false,
  },

  // layout places the rows' panels left to right, 24 units wide, wrapping
  // as Grafana does, and numbers them.
  layout(rows)::
    local place(st, p) =
      if p.type == 'row' then
        local y = st.y + st.lineH;
        st { x: 0, y: y + 1, lineH: 0, out+: [p { gridPos+: { x: 0, y: y } }] }
      else
        local wrap = st.x + p.gridPos.w > 24;
        local x = if wrap then 0 else st.x;
        local y = if wrap then st.y + st.lineH else st.y;
        local lineH = if wrap then p.gridPos.h else std.max(st.lineH, p.gridPos.h);
        st { x: x + p.gridPos.w, y: y, lineH: lineH, out+: [p { gridPos+: { x: x, y: y } }] };
    local placed = std.foldl(place, std.flattenArrays(rows), { x: 0, y: 0, lineH: 0, out: [] }).out;
    [placed[i] { id: i + 1 } for i in std.range(0, std.length(placed) - 1)],
}
