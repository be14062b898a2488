# ns per element of the OR-Set's merge, encode and decode from 1k to 1M
# elements, from `bench_crdt scale` (tab-separated, '#' comments):
#
#   build-rel/bench/bench_crdt scale 5 > /tmp/scale.tsv
#   gnuplot -e "data='/tmp/scale.tsv'; out='docs/orset-scale.png'" bench/orset-scale.gp
#
# docs/orset-scale.png: data='docs/orset-scale.dat', before='docs/orset-scale-before.dat'.
#
# With before='FILE' (the same columns from an older build) its merge is
# drawn dashed for comparison.
if (!exists("data")) data = "scale.tsv"
if (!exists("out")) out = "orset-scale.png"
set terminal pngcairo size 900,560 noenhanced
set output out
set title "libcrdt OR-Set, two half-overlapping sets of 11-byte elements (medians)"
set logscale x
set xlabel "n (elements in each set)"
set ylabel "ns per element"
set yrange [0:*]
set grid
set key below
set xrange [700:1400000]
set xtics ("1k" 1000, "2k" 2000, "5k" 5000, "10k" 10000, "20k" 20000, "50k" 50000, "100k" 100000, "200k" 200000, "500k" 500000, "1M" 1000000)
plot data using 1:2 with linespoints lw 2 title "merge", \
     data using 1:3 with linespoints lw 2 title "encode (again)", \
     data using 1:4 with linespoints lw 2 title "first encode of a fresh copy", \
     data using 1:5 with linespoints lw 2 title "decode", \
     data using 1:6 with linespoints lw 2 title "first encode after a merge", \
     (exists("before") ? before : data) using 1:(exists("before") ? $2 : 1/0) with linespoints dt 2 lc rgb "gray40" title (exists("before") ? "merge before (bf98916)" : "")
