module gridhook/bench/loadgen

go 1.22
