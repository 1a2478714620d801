"""26-connected components with numpy alone (the base image has no scipy), used by both baselines."""
import numpy


def neighbours(values, fill):
    """Views of `values` shifted by each of the 26 offsets (outside the image: `fill`)."""
    padded = numpy.pad(values, 1, constant_values=fill)
    nz, ny, nx = values.shape
    for dz in range(3):
        for dy in range(3):
            for dx in range(3):
                if (dz, dy, dx) != (1, 1, 1):
                    yield padded[dz:dz + nz, dy:dy + ny, dx:dx + nx]


def components(mask):
    """26-connected components, labelled by their smallest voxel index (spread, then pointer jumping)."""
    size = mask.size
    labels = numpy.where(mask, numpy.arange(size).reshape(mask.shape), size)
    while True:
        spread = numpy.minimum.reduce([labels, *neighbours(labels, size)])
        spread = numpy.where(mask, spread, size).ravel()
        jumped = numpy.append(spread, size)[spread].reshape(mask.shape)
        if numpy.array_equal(jumped, labels):
            return labels
        labels = jumped
