"""Writers for the sheets that hold stacks of maps: input, filters, conv, activations, pooling, joins."""

from functools import partial

from .. import formulas
from ..graph import INPUT
from . import styles
from .explain import explain_maps
from .common import (share_formulas, add_scale, freeze_below, paint_pixels, merge, put_parameter, write_padding, put_formula, put_formulas, put_text, put_value, set_widths,
                     write_header, write_notice)


# ---------------------------------------------------------------- input


def write_input(ctx, ws, plan):
    texts = ctx.sheet_texts("input")
    stack = plan.pixels
    channels, height, width = stack.shape
    pad = stack.pad
    values = {"step": plan.step, "height": height, "width": width,
              "pixels": height * width, "padding": pad}
    lines = list(texts["lines"])
    if ctx.matrix:      # a textbook's numbers: no light, no 0..255
        lines[:3] = [line.format(channels=channels, height=height, width=width) for line in texts["matrix_lines"]]
        lines[4] = texts["matrix_scale_line"]
    elif channels == 1:   # a grey photo: one grid, one matrix
        lines[:2] = texts["gray_lines"]
    if plan.normalised is not None:   # the padding is around the normalised maps, which the first layer reads
        values["padding"] = pad = plan.normalised.pad
        lines[4] = texts["normalised_line"]
    lines[3] = texts["padding_note"] if pad else ""
    write_header(ws, texts["title"], lines, values)
    scale = plan.scale
    put_text(ws, *plan.scale_label.cell(0, 0), texts["scale_label"], styles.LABEL_FONT)
    put_value(ws, *scale.cell(0, 0), float(ctx.model.input_scale), styles.SCALE_FORMAT, styles.PARAM_FILL)
    merge(ws, *scale.cell(0, 0), 1, 3)  # wide enough to read "1/255" between narrow pixel columns
    write_notice(ctx, ws)
    for c, label in enumerate(ctx.channel_labels(channels)):
        put_text(ws, *stack.label_cell(c), label, styles.LABEL_FONT)
        write_padding(ws, stack, c)
        inner = stack.interior(c)
        pixels = ctx.pixels[c].tolist()   # plain numbers: indexing the array cell by cell costs more than writing
        for i, j, row, col in inner.cells():
            value = float(pixels[i][j]) if ctx.matrix else int(pixels[i][j])
            put_value(ws, row, col, value).font = styles.PIXEL_FONT
        add_scale(ws, inner, _input_scale(ctx, c))
    if plan.normalised is not None:
        _write_normalised(ctx, ws, plan, texts)
    _write_colour_view(ctx, ws, plan, texts)
    set_widths(ws, 0, 1, 3)
    set_widths(ws, stack.maps[0].col, stack.maps[0].width, styles.MATRIX_WIDTH if ctx.matrix else styles.PIXEL_WIDTH)
    freeze_below(ws, 1)


def _write_normalised(ctx, ws, plan, texts):
    """(pixel x scale - mean) / std for each channel, beside the pixels: what the first layer reads."""
    model, result = ctx.model, plan.normalised
    for c, label in enumerate(ctx.channel_labels(len(result.maps))):
        put_text(ws, *result.label_cell(c), texts["normalised_label"].format(channel=label), styles.LABEL_FONT)
        for labels, cells, values, key in ((plan.mean_labels, plan.mean, model.input_mean, "mean_label"),
                                           (plan.std_labels, plan.std, model.input_std, "std_label")):
            put_text(ws, *labels[c].cell(0, 0), texts[key])
            put_value(ws, *cells[c].cell(0, 0), float(values[c]), styles.WEIGHT_FORMAT, styles.PARAM_FILL)
        write_padding(ws, result, c)
        inner, pixels = result.interior(c), plan.pixels.interior(c)
        put_formulas(ctx, ws, inner,
                     lambda i, j: formulas.normalised(pixels.sub(i, j, 1, 1), plan.scale, plan.mean[c], plan.std[c]),
                     styles.VALUE_FORMAT)
        add_scale(ws, inner, styles.diverging_scale())
    set_widths(ws, result.maps[0].col, result.maps[0].width, styles.VALUE_WIDTH)
    set_widths(ws, plan.mean_labels[0].col, 1, styles.VALUE_WIDTH)


def _input_scale(ctx, c):
    """A photo's channel from black to its colour; a matrix's numbers like any map's: diverging when negative."""
    if ctx.matrix:
        return styles.diverging_scale() if (ctx.pixels < 0).any() else styles.positive_scale()
    channels = ctx.pixels.shape[0]
    return styles.channel_scale(styles.CHANNEL_COLOURS[c] if channels == 3 else styles.GRAY_COLOUR)


def _write_colour_view(ctx, ws, plan, texts):
    """Every cell filled with its pixel's colour: the photo itself, visible in cells."""
    view = plan.colour_view
    put_text(ws, *plan.colour_view_label.cell(0, 0), texts["matrix_view" if ctx.matrix else "colour_view"],
             styles.LABEL_FONT)
    paint_pixels(ctx, ws, view)
    set_widths(ws, view.col, view.width, styles.COLOUR_VIEW_WIDTH)


# ---------------------------------------------------------------- filters


def write_filters(ctx, ws, plan):
    texts = ctx.sheet_texts("filters")
    layer = ctx.model.layers[plan.layer]
    p = ctx.model.params[plan.layer]
    k_count, channels, f, _ = p["weight"].shape
    values = {"step": plan.step, "kernel": f, "channels": channels,
              "filters": k_count, "params": f * f * channels * k_count + k_count}
    lines = list(texts["lines"])
    if channels == 1 and plan.channels == 1:
        lines[0] = texts["one_channel_line"]
    if plan.connections is not None or not layer.bias:
        _grouped_lines(plan, layer, texts, lines, values)
    if layer.flip:
        lines.append(texts["flip_line"])
    if layer.dilation != 1:
        lines.append(texts["dilation_line"].format(dilation=layer.dilation, span=layer.span, kernel=f))
    write_header(ws, texts["title"], lines[:6], values)
    write_notice(ctx, ws)
    if plan.effective is not None:
        _write_effective_kernels(ctx, ws, plan, layer, texts)
    for k in range(layer.filters):
        slices = plan.weight[k]
        bias = plan.bias[k]
        put_text(ws, *plan.filter_labels[k].cell(0, 0), texts["filter_label"].format(k=k + 1), styles.LABEL_FONT)
        for c, channel in enumerate(plan.reads(k)):   # grouped: its group's channels
            put_text(ws, *plan.slice_labels[k][c].cell(0, 0), texts["slice_label"].format(c=channel + 1))
            write_kernel(ctx, ws, plan, k, c, p["weight"][k, c])
        if layer.bias:
            put_text(ws, *plan.bias_labels[k].cell(0, 0), texts["bias_label"])
            put_parameter(ctx, ws, bias, p["bias"][k], styles.WEIGHT_FORMAT,
                          ctx.new_weight("filters", plan.layer, lambda sheet, k=k: sheet.bias[k]))
        else:   # the formulas still add this cell, a fixed 0, so they read as every conv's do
            put_text(ws, *plan.bias_labels[k].cell(0, 0), texts["no_bias_label"])
            put_value(ws, *bias.cell(0, 0), 0, styles.WEIGHT_FORMAT, styles.PAD_FILL)
        add_scale(ws, slices, styles.diverging_scale())
    last = plan.bias[0]
    set_widths(ws, 0, 1, styles.LABEL_WIDTH)
    set_widths(ws, 1, last.col, styles.VALUE_WIDTH)
    if plan.connections is not None:
        _write_connections(ws, plan, texts)
    freeze_below(ws, 1)


def write_kernel(ctx, ws, plan, a, b, values):
    """Block ``weight[a][b]`` of a filters sheet: the stored ``values`` (F x F), each weight editable (a later
    pass: its descent step from the pass before)."""
    for u, v, cell in plan.weight[a][b].cell_blocks():
        pick = (lambda sheet, a=a, b=b, u=u, v=v: sheet.weight[a][b].sub(u, v, 1, 1))
        put_parameter(ctx, ws, cell, values[u, v], styles.WEIGHT_FORMAT,
                      ctx.new_weight("filters", plan.layer, pick))


def _grouped_lines(plan, layer, texts, lines, values):
    """The first line and the parameters line of a grouped, depthwise or bias-free layer: which channels a
    filter reads, and its count beside its standard twin's (``Layer.standard_twin``)."""
    slices, k_count, channels = values["channels"], values["filters"], plan.channels
    _, params = layer.parameter_count((channels,))
    values.update(slices=slices, channels=channels, groups=channels // slices, params=params,
                  c_symbol="C/G" if slices != channels else "C", bias_term=" + K" if layer.bias else "",
                  bias_value=f" + {k_count}" if layer.bias else "", compare="")
    twin = layer.standard_twin(channels)
    if twin is not None:
        _, standard = twin.parameter_count((channels,))
        lines[0] = texts["depthwise_line" if layer.depthwise else "grouped_line"]
        values["compare"] = texts["standard_compare"].format(channels=channels, standard=standard,
                                                             ratio=f"{standard / params:.1f}")
    lines[2] = texts["custom_params_line"]


def _write_connections(ws, plan, texts):
    """The grid of filters x input channels: a filled 1 where the filter reads the channel, blank where it never does."""
    grid = plan.connections
    put_text(ws, *grid.title.cell(0, 0), texts["connections_title"], styles.LABEL_FONT)
    for c in range(grid.cells.width):
        put_text(ws, *grid.channels.cell(0, c), texts["connection_channel"].format(c=c + 1))
    for k in range(grid.cells.height):
        put_text(ws, *grid.filters.cell(k, 0), texts["connection_filter"].format(k=k + 1))
        for c in plan.reads(k):
            put_value(ws, *grid.cells.cell(k, c), 1, fill=styles.LINK_FILL)
    set_widths(ws, grid.filters.col, 1, styles.LABEL_WIDTH)
    set_widths(ws, grid.cells.col, grid.cells.width, styles.VALUE_WIDTH)


def _write_effective_kernels(ctx, ws, plan, layer, texts):
    """The kernel the layer really slides, as references to the filter's own cells.

    Turned 180 degrees for a flipped filter, spread out with zero holes for dilation;
    a student who edits a weight sees it move in both copies.
    """
    d = layer.dilation
    label = texts["flipped_label" if layer.flip and d == 1 else "dilated_label" if not layer.flip else "both_label"]
    for labels in plan.effective_labels:
        for c, cell in enumerate(labels):
            put_text(ws, *cell.cell(0, 0), label.format(c=c + 1))
    for _, _, cell, stored in plan.taps():
        if stored is None:
            put_value(ws, *cell.cell(0, 0), 0, fill=styles.PAD_FILL)
        else:
            put_formula(ctx, ws, cell, formulas.reference(stored), styles.WEIGHT_FORMAT)
    for spread in plan.effective:
        add_scale(ws, spread, styles.diverging_scale())


# ---------------------------------------------------------------- conv, activations, pooling


def write_maps(ctx, ws, plan):
    """The maps of a layer with filters, an activation or a pooling: one formula per output cell."""
    layer = ctx.model.layers[plan.layer]
    texts = ctx.sheet_texts(plan.kind)
    out = plan.output
    source = plan.source
    channels, height, width = out.shape
    lines = list(texts["lines"])
    if layer.has_filters and source.shape[0] == 1:   # no sum over channels to speak of
        lines[0] = texts["one_channel_line"]
    elif layer.has_filters and ctx.layout.sheet("filters", plan.layer).connections is not None:
        lines[0] = texts["grouped_line"]
    lines[2:3] = [texts[key] for key in layer.size_lines()] or lines[2:3]
    write_header(ws, texts["title"], lines, _map_values(plan, layer, source, out))
    cell_formula = _cell_formula_builder(ctx, plan, layer, source)
    # next cell, next window: every formula of a map is the first one moved (the file stores it once)
    slides_by_one = plan.stride == 1 and plan.uniform_windows
    number_format = styles.VALUE_FORMAT
    for k in range(channels):
        put_text(ws, *out.label_cell(k), texts["map_label"].format(k=k + 1), styles.LABEL_FONT)
        write_padding(ws, out, k)
        inner = out.interior(k)
        put_formulas(ctx, ws, inner, partial(cell_formula, k), number_format)
        if slides_by_one:
            share_formulas(ws, inner)
        rule = output_scale(ctx.model, plan.layer)
        add_scale(ws, inner, rule)
    explain_maps(ctx, ws, plan, layer, source, out)
    set_widths(ws, 0, 1, 3)
    set_widths(ws, out.maps[0].col, plan.value_columns, styles.VALUE_WIDTH)
    freeze_below(ws, 1)


def write_add(ctx, ws, plan):
    """An add sheet: each cell the sum of the same cell on every sheet it adds (where branches join)."""
    layer = ctx.model.layers[plan.layer]
    texts = ctx.sheet_texts(plan.kind)
    out = plan.output
    operands = ", ".join(f"'{source.maps[0].sheet}'" for source in plan.sources)
    write_header(ws, texts["title"], texts["lines"], {"step": plan.step, "sheets": operands,
                                                      "shape": " x ".join(str(n) for n in out.shape)})
    write_notice(ctx, ws)
    _write_terms(ctx, ws, plan, texts)
    _write_joined_maps(ctx, ws, plan, lambda k: texts["map_label"].format(k=k + 1),
                       lambda k, i, j: layer.forward_formula(plan.operands(k, i, j)))


def _write_terms(ctx, ws, plan, texts):
    """Left of each sum, a copy of every map it adds (plain references), with "+" between and "=" before
    the sum: the shortcut's maps stand beside the branch's, so the student sees what is added back."""
    for n, (term, source) in enumerate(zip(plan.terms, plan.sources)):
        sheet = f"'{source.maps[0].sheet}'"
        for k in range(len(term.maps)):
            put_text(ws, *term.label_cell(k), texts["term_label"].format(k=k + 1, sheet=sheet), styles.LABEL_FONT)
            put_formulas(ctx, ws, term.maps[k], lambda i, j, k=k: formulas.reference(source.at(k, i, j)),
                         styles.VALUE_FORMAT)
            share_formulas(ws, term.maps[k])
            add_scale(ws, term.maps[k], output_scale(ctx.model, plan.layer))
            sign = texts["equals" if n == len(plan.terms) - 1 else "plus"]
            put_text(ws, *plan.signs[k][n].cell(0, 0), sign, styles.LABEL_FONT)


def write_stacked(ctx, ws, plan):
    """A stacking join's sheet: the maps of every sheet it stacks, one after the other, each cell a reference to
    the cell it copies (where branches join and keep what each found)."""
    layer = ctx.model.layers[plan.layer]
    texts = ctx.sheet_texts(plan.kind)
    out = plan.output
    names = [f"'{sheet}'" for sheet in plan.source_sheets()]
    vector = plan.numbers is not None
    shape = str(out.height) if vector else " x ".join(str(n) for n in out.shape)
    write_header(ws, texts["title"], texts["vector_lines" if vector else "lines"], {
        "step": plan.step, "sheets": ", ".join(names),
        "origins": _origins(plan, names, texts, ctx.texts["separator"], "vector_" if vector else ""),
        "counts": " + ".join(str(count) for count in plan.counts()), "channels": sum(plan.counts()),
        "shape": shape})
    write_notice(ctx, ws)
    if vector:
        return _write_joined_vector(ctx, ws, plan, layer, texts)

    def label(k):
        n, c = plan.origin(k)
        return texts["map_label"].format(k=k + 1, c=c + 1, sheet=names[n])
    _write_joined_maps(ctx, ws, plan, label, lambda k, i, j: layer.forward_formula(plan.operand(k, i, j)))


def _write_joined_maps(ctx, ws, plan, label, cell_formula):
    """The maps of a join, one below the other: heading ``label(k)`` above map k, a zero
    border where a conv after it pads, and ``cell_formula(k, i, j)`` in every cell."""
    out = plan.output
    for k in range(len(out.maps)):
        put_text(ws, *out.label_cell(k), label(k), styles.LABEL_FONT)
        write_padding(ws, out, k)
        inner = out.interior(k)
        put_formulas(ctx, ws, inner, partial(cell_formula, k), styles.VALUE_FORMAT)
        share_formulas(ws, inner)   # every cell reads the same cell of its sources: the first formula, moved
        add_scale(ws, inner, output_scale(ctx.model, plan.layer))
    set_widths(ws, 0, 1, 3)
    set_widths(ws, plan.value_start, plan.value_columns, styles.VALUE_WIDTH)
    freeze_below(ws, 1)


def _write_joined_vector(ctx, ws, plan, layer, texts):
    """Vectors joined end to end into one numbered column, each element a reference to the one it copies."""
    out = plan.output
    put_text(ws, *plan.output_label.cell(0, 0), texts["vector_label"], styles.LABEL_FONT)
    for n in range(out.height):
        put_text(ws, *plan.numbers.cell(n, 0), f"{n + 1}")
        put_formula(ctx, ws, out.item(n), layer.forward_formula(plan.operand(n)), styles.VALUE_FORMAT)
    add_scale(ws, out, output_scale(ctx.model, plan.layer))
    set_widths(ws, 0, 2, 9)
    freeze_below(ws, 1)


def _origins(plan, names, texts, separator, prefix=""):
    """Which maps (elements, with ``prefix`` "vector_") of the result come from which sheet:
    "maps 1-2 from '3 Conv 1'; maps 3-5 from '5 Conv 2'"."""
    parts, first = [], 1
    for name, count in zip(names, plan.counts()):
        last = first + count - 1
        key = prefix + ("origin" if last > first else "origin_one")
        parts.append(texts[key].format(first=first, last=last, sheet=name))
        first = last + 1
    return separator.join(parts)


def _cell_formula_builder(ctx, plan, layer, source):
    """A function (k, i, j) -> the formula of output cell (i, j) of map k."""
    scale = ctx.scale_for(plan.layer)
    if layer.has_filters:
        filters = ctx.layout.sheet("filters", plan.layer)
        channels = source.shape[0]
        windows_at = {}   # (i, j) -> the input windows every filter reads there
        reads = [filters.reads(k) for k in range(len(filters.kernels))]   # a grouped filter: its group's channels

        def filters_cell(k, i, j):
            windows = windows_at.get((i, j))
            if windows is None:
                windows = windows_at[(i, j)] = [plan.window(c, i, j) for c in range(channels)]
            group = reads[k]
            return layer.forward_formula(windows[group.start:group.stop], filters.kernels[k], filters.bias[k], scale)
        return filters_cell
    return lambda k, i, j: layer.forward_formula(plan.window(k, i, j), scale)


def output_scale(model, index):
    """The colour scale for layer ``index``'s output: diverging when it can go negative."""
    return styles.diverging_scale() if can_be_negative(model, index) else styles.positive_scale()


def can_be_negative(model, index):
    """Whether layer ``index``'s output may hold negative numbers (picks the colour scale): a layer
    that ``keeps_sign`` is negative only where what it reads is; the pixels are never negative."""
    layer = model.layers[index]
    if layer.keeps_sign:
        return any(source != INPUT and can_be_negative(model, source) for source in model.sources()[index])
    return not layer.never_negative


def _map_values(plan, layer, source, out):
    _, in_size, _ = source.shape
    values = {"step": plan.step, "in_size": in_size, "out_size": out.shape[1],
              "shape": " x ".join(str(n) for n in out.shape)}
    values.update(layer.text_values())
    return values
