import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statushistory from '@grafana/grafana-foundation-sdk/statushistory';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Shared panel factories: every board's panels come from these, so they look and behave alike. */

export const COLORS = {
  ok: 'green',
  amber: 'orange',
  red: 'red',
  neutral: 'text',
  transparent: 'transparent',
} as const;

export type Step = { value: number | null; color: string };

export function thresholds(steps: Step[]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);
}

/** Field override properties drawing a field's own thresholds (e.g. diastolic 85/120 beside systolic 135/180). */
export function thresholdOverride(
  steps: Step[],
  style: common.GraphThresholdsStyleMode,
): dashboard.DynamicConfigValue[] {
  return [
    { id: 'thresholds', value: { mode: dashboard.ThresholdsMode.Absolute, steps } },
    { id: 'custom.thresholdsStyle', value: { mode: style } },
  ];
}

export interface TrendOptions {
  title: string;
  description: string;
  unit: string;
  targets: cog.Builder<cog.Dataquery>[];
  /** Clinical thresholds drawn on the graph (clinical-rules.md). */
  steps?: Step[];
  thresholdStyle?: common.GraphThresholdsStyleMode;
  bars?: boolean;
  stacked?: boolean;
  width?: number;
  height?: number;
  min?: number;
  max?: number;
  decimals?: number;
}

/** A trend over time. Gaps stay gaps (spanNulls off): a missing day must be visible. */
export function trendPanel(o: TrendOptions): timeseries.PanelBuilder {
  const p = new timeseries.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .unit(o.unit)
    .targets(o.targets)
    .span(o.width ?? 12)
    .height(o.height ?? 8)
    .spanNulls(false)
    .showPoints(common.VisibilityMode.Always)
    .pointSize(5)
    .lineWidth(1)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.None));
  if (o.steps) {
    p.thresholds(thresholds(o.steps)).thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(o.thresholdStyle ?? common.GraphThresholdsStyleMode.Dashed),
    );
  }
  if (o.bars) p.drawStyle(common.GraphDrawStyle.Bars).fillOpacity(60);
  if (o.stacked) p.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (o.min !== undefined) p.min(o.min);
  if (o.max !== undefined) p.max(o.max);
  if (o.decimals !== undefined) p.decimals(o.decimals);
  return p;
}

export interface StatOptions {
  title: string;
  description: string;
  unit: string;
  targets: cog.Builder<cog.Dataquery>[];
  steps: Step[];
  width?: number;
  height?: number;
  noValue?: string;
}

/** One figure, coloured by its thresholds. */
export function statPanel(o: StatOptions): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .unit(o.unit)
    .targets(o.targets)
    .span(o.width ?? 6)
    .height(o.height ?? 4)
    .thresholds(thresholds(o.steps))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.ValueAndName)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .noValue(o.noValue ?? 'no data');
}

export interface TableOptions {
  title: string;
  description: string;
  targets: cog.Builder<cog.Dataquery>[];
  width?: number;
  height?: number;
}

export function tablePanel(o: TableOptions): table.PanelBuilder {
  return new table.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .targets(o.targets)
    .span(o.width ?? 24)
    .height(o.height ?? 10)
    .showHeader(true)
    .filterable(true);
}

/** Cells coloured by the field's thresholds. */
export function colouredCells(steps: Step[]): dashboard.DynamicConfigValue[] {
  return [
    { id: 'thresholds', value: { mode: dashboard.ThresholdsMode.Absolute, steps } },
    { id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.ColorBackground } },
  ];
}

/** One row per series, one cell per time bucket, coloured by thresholds: holes in the data stand out. */
export function historyPanel(o: TrendOptions): statushistory.PanelBuilder {
  return new statushistory.PanelBuilder()
    .title(o.title)
    .description(o.description)
    .unit(o.unit)
    .targets(o.targets)
    .span(o.width ?? 24)
    .height(o.height ?? 7)
    .thresholds(thresholds(o.steps ?? [{ value: null, color: COLORS.ok }]))
    .showValue(common.VisibilityMode.Never)
    .legend(new common.VizLegendOptionsBuilder().showLegend(false));
}

/** A data link on a field opening another board on the clicked value, keeping the time range. */
export function fieldLinkToBoard(title: string, uid: string, variable: string): dashboard.DynamicConfigValue {
  return { id: 'links', value: [{ title, url: `/d/${uid}/?var-${variable}=\${__value.raw}&\${__url_time_range}` }] };
}

/** The top-bar links between the Vigil boards (every board is tagged `vigil`). */
export function vigilBoardLinks(): dashboard.DashboardLinkBuilder {
  return new dashboard.DashboardLinkBuilder('Vigil boards')
    .type(dashboard.DashboardLinkType.Dashboards)
    .tags(['vigil'])
    .asDropdown(false)
    .keepTime(true)
    .includeVars(false)
    .targetBlank(false);
}
