"""Command-line programs installed with the library.

- ``mlnotes-dcgan`` (:mod:`mlnotes_lib.cli.dcgan`): train the DCGAN of book/dcgan.ipynb on a
  folder of images, the shipped digits or a torchvision dataset, on a CPU, a GPU or many
  processes under ``torchrun``; and draw sample grids from a run.

Each program is a module with a ``main(argv) -> int`` and runs as ``python -m`` too.
"""
